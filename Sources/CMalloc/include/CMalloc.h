#ifndef PERIGEE_CMALLOC_H
#define PERIGEE_CMALLOC_H

/// Returns whole free pages held by the C allocator to the system (glibc's malloc_trim(0));
/// returns 1 when memory was released, 0 otherwise or where glibc is not the allocator.
int perigee_malloc_trim(void);

#endif

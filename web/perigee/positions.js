/**
 * Topic positions (issue 11): every MESSAGE on a /topic/ destination carries `perigee-epoch`
 * (the topic's lifetime on the server: it changes on a restart) and `perigee-offset` (1, 2, 3...
 * within that epoch). A subscription that remembers the last one it saw resumes with
 * `perigee-since:<epoch>:<offset>`; the server replays what it kept after it, or answers
 * `perigee-recovered:false`. Pure functions, no client state: client.js keeps the positions.
 */

/** The SUBSCRIBE and RECEIPT headers of positions, history and presence. */
export const HEADERS = Object.freeze({
  epoch: "perigee-epoch",
  offset: "perigee-offset",
  since: "perigee-since",
  history: "perigee-history",
  presence: "perigee-presence",
  recovered: "perigee-recovered",
  replayed: "perigee-replayed",
  event: "perigee-event",
});

/**
 * `{epoch, offset}` from a frame's `perigee-epoch` and `perigee-offset` headers, or null when
 * either is missing or malformed (a queue message, a presence event, an older server). The
 * offset is a Number: offsets grow by one per message, far below 2^53.
 */
export function positionOf(headers) {
  if (!headers) return null;
  const epoch = headers[HEADERS.epoch];
  const offset = headers[HEADERS.offset];
  if (typeof epoch !== "string" || epoch === "" || typeof offset !== "string" || !/^[0-9]{1,15}$/.test(offset)) {
    return null;
  }
  return { epoch, offset: Number(offset) };
}

/** `"<epoch>:<offset>"` (a `perigee-since` value) as `{epoch, offset}`, or null if malformed. */
export function parsePosition(text) {
  const match = /^([^:]+):([0-9]{1,15})$/.exec(String(text).trim());
  return match ? { epoch: match[1], offset: Number(match[2]) } : null;
}

/** The `perigee-since` value of a position. */
export function formatPosition(position) {
  return position.epoch + ":" + position.offset;
}

/**
 * Whether `next` (a RECEIPT's head) should replace `current`: always from nothing or from
 * another epoch (a failed resume starts again from the new head), and within one epoch only
 * forwards, so that a live MESSAGE that overtook the RECEIPT is not un-seen.
 */
export function isAhead(next, current) {
  return current === null || current.epoch !== next.epoch || next.offset > current.offset;
}

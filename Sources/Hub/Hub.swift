/// The STOMP topic hub: STOMP 1.0–1.2 frames, sessions and topic routing, independent of any
/// transport. Its contents arrive with the hub issue (#3); this file gives the module its
/// place in the layout so that the dependency rules are in force from the start.
public enum Hub {}

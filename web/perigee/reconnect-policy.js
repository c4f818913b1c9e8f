/**
 * Which transport PerigeeClient tries next, and after how long. No timers and no I/O: the
 * client reports what happened and schedules what it is told.
 *
 * - A round tries the transports in order. An attempt that ends before CONNECTED hands over
 *   to the next transport at once, unless the server answered it with an ERROR (then the
 *   transport worked and another one would only get the same answer) or the token function
 *   failed (no transport was opened; any other would need the same token): the round ends.
 * - A new round starts with the transport that last reached CONNECTED (a network that needed
 *   a fallback once most likely needs it again), then the others in order.
 * - Rounds are spaced by an exponential backoff (initialDelay doubled per round, capped at
 *   maxDelay) with jitter: a random delay in [delay/2, delay].
 * - The backoff resets only once a connection has stayed up for `resetAfter` ms. Reaching
 *   CONNECTED is not enough: a server that accepts CONNECT and then ends the session (an
 *   ERROR for a refused SUBSCRIBE, say) would otherwise be retried every initialDelay forever.
 *   Nor is a RECEIPT or MESSAGE: it shows the path works, not that the session will last.
 * - A server that said it is going away (a drain: ERROR "server shutting down", WebSocket close
 *   1001, SockJS close 3000 "Go away!") did not refuse the client: the backoff resets and the
 *   next round starts within [0, initialDelay) (jitter, so that the clients of a drained node
 *   do not all reach the load balancer in the same millisecond), with the same transport.
 */
export class ReconnectPolicy {
  /**
   * `transports`: names in the preferred order. `reconnect`: {initialDelay, maxDelay,
   * resetAfter} in ms, or null to never start a second round. `random`: for the jitter.
   */
  constructor(transports, reconnect, random = Math.random) {
    this.transports = [...transports];
    this.reconnect = reconnect;
    this.random = random;
    this.begin();
  }

  /** Start afresh (connect() after disconnect()): the preferred order, no backoff. */
  begin() {
    this.attempt = 0;         // rounds since the backoff last reset
    this.lastWorking = null;  // the transport that last reached CONNECTED
    this.connectedAt = null;  // when the current attempt reached CONNECTED, else null
    this._newRound();
  }

  /** The transport to open now. */
  get current() { return this.round[this.index]; }

  /** The current attempt reached CONNECTED at time `now` (ms). */
  connected(now) {
    this.lastWorking = this.current;
    this.connectedAt = now;
  }

  /**
   * The current attempt is over at time `now`; `answeredWithError` when the server sent an
   * ERROR before CONNECTED, `tokenFailed` when the attempt never opened a transport because
   * the token function failed (every transport needs the same token). Either ends the round.
   * `goingAway` when the server said it is shutting down: a prompt new round, backoff reset.
   * Returns what to do next — `{transport, delay, newRound}`, open `transport` after `delay`
   * ms — or null when reconnecting is off and the round is over.
   */
  lost({ now, answeredWithError = false, tokenFailed = false, goingAway = false }) {
    const connectedAt = this.connectedAt;
    this.connectedAt = null;
    if (goingAway && this.reconnect) {
      this.attempt = 0;
      this._newRound();
      return { transport: this.current, delay: this.random() * this.reconnect.initialDelay, newRound: true };
    }
    const endsRound = answeredWithError || tokenFailed;
    if (connectedAt === null && !endsRound && this.index + 1 < this.round.length) {
      this.index++;
      return { transport: this.current, delay: 0, newRound: false };
    }
    const reconnect = this.reconnect;
    if (!reconnect) return null;
    if (connectedAt !== null && now - connectedAt >= reconnect.resetAfter) this.attempt = 0;
    const base = Math.min(reconnect.maxDelay, reconnect.initialDelay * Math.pow(2, this.attempt));
    if (base < reconnect.maxDelay) this.attempt++;
    this._newRound();
    return { transport: this.current, delay: base / 2 + this.random() * (base / 2), newRound: true };
  }

  _newRound() {
    const last = this.lastWorking;
    this.round = last && this.transports.includes(last)
      ? [last, ...this.transports.filter((n) => n !== last)] : [...this.transports];
    this.index = 0;
  }
}

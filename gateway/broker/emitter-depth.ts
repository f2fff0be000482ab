/**
 * Bounds how deep Aedes' message emitter (mqemitter, also under mqemitter-redis) can recurse.
 *
 * Past its `concurrency`, the emitter queues messages; each finished one starts the next from inside
 * its own completion callback. When the listeners complete synchronously (subscribers gone, a session
 * closing, nobody subscribed), a long queue drains as one chain of nested calls and overflows the stack:
 * seen here in cluster mode when a node closed under load (`RangeError: Maximum call stack size exceeded`
 * in `Qlobber.match`), and upstream as mcollina/mqemitter#204, still open.
 *
 * The fix keeps the emitter's own order: past MAX_DEPTH nested dispatches, a dispatch (and every one
 * after it, until the backlog is empty) waits for the next `setImmediate`, in the order they came.
 */

/** Nested dispatches allowed in one stack; each costs a handful of frames. */
const MAX_DEPTH = 200;

type Dispatch = (that: unknown, fns: unknown, arg: unknown, done: unknown) => void;

interface DispatchingEmitter {
  _parallel: Dispatch;
}

export function boundEmitterDepth(mq: object): void {
  const emitter = mq as DispatchingEmitter;
  const dispatch = emitter._parallel;
  if (typeof dispatch !== 'function') throw new Error('unexpected emitter: no _parallel dispatch to guard');
  let depth = 0;
  const backlog: Parameters<Dispatch>[] = [];
  let scheduled = false;
  const run = (args: Parameters<Dispatch>): void => {
    depth++;
    try {
      dispatch(...args);
    } finally {
      depth--;
    }
  };
  const drain = (): void => {
    scheduled = false;
    // only those waiting now: later ones (and any a dispatch starts) join the end, after the next I/O turn
    for (let n = backlog.length; n > 0; n--) run(backlog.shift()!);
    if (backlog.length > 0 && !scheduled) schedule();
  };
  const schedule = (): void => {
    scheduled = true;
    setImmediate(drain);
  };
  emitter._parallel = (...args: Parameters<Dispatch>): void => {
    if (depth < MAX_DEPTH && backlog.length === 0) {
      run(args);
      return;
    }
    backlog.push(args);
    if (!scheduled) schedule();
  };
}

// Benchmark phases in child processes of their own: the script forks itself with
// `--child <task as JSON>`, the child runs the task and sends back its result over IPC.
// A phase then never shares a process (heap, JIT state, open stores) with another.
import { fork } from 'node:child_process';

type ChildReply = { ok: true; result: unknown } | { ok: false; error: string };

export interface ChildOptions {
  /** Node options of the child (default: none). */
  execArgv?: string[];
  /** SIGKILL the child as soon as it has reported (its stores still open); resolve once it is gone. */
  crash?: boolean;
}

/** Runs `task` in a fork of `script` (a benchmark's __filename) and resolves with its result. */
export function inChild<T>(script: string, task: { kind: string }, options: ChildOptions = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = fork(script, ['--child', JSON.stringify(task)], {
      execArgv: options.execArgv ?? [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let reply: ChildReply | null = null;
    child.on('message', (message) => {
      reply = message as ChildReply;
      if (options.crash) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => {
      const got = reply as ChildReply | null;
      if (got === null) reject(new Error(`${task.kind} child exited with ${signal ?? `code ${code}`} before reporting`));
      else if (!got.ok) reject(new Error(got.error));
      else if (options.crash && signal !== 'SIGKILL') reject(new Error(`${task.kind} child exited with ${signal ?? `code ${code}`} instead of being killed`));
      else resolve(got.result as T);
    });
  });
}

/**
 * The child's side: runs the task, reports, exits. `awaitKill(task)` true: after a
 * successful report the child stays up, stores open, for the parent's SIGKILL. Run by
 * hand (no IPC channel, e.g. under a profiler) it prints the result instead.
 */
export async function childMain<Task>(taskJson: string, run: (task: Task) => Promise<unknown>, awaitKill: (task: Task) => boolean = () => false): Promise<void> {
  const task = JSON.parse(taskJson) as Task;
  let reply: ChildReply;
  try {
    reply = { ok: true, result: await run(task) };
  } catch (error) {
    reply = { ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  }
  const crash = reply.ok && awaitKill(task);
  if (process.send === undefined) {
    console.log(JSON.stringify(reply, null, 2));
    process.exit(reply.ok ? 0 : 1);
  }
  if (crash) setInterval(() => undefined, 60_000);
  process.send(reply, () => {
    if (!crash) process.exit(0);
  });
}

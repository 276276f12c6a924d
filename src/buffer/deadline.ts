/** Waiting with an upper bound: shutdown must end on time even when a plugin's write never returns. */

/** Resolves with the value, or with `done: false` once `deadlineMs` (epoch ms) passed first. The promise itself is left running. */
export async function untilDeadline<T>(p: Promise<T>, deadlineMs: number): Promise<{ done: true; value: T } | { done: false }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<{ done: false }>((resolve) => {
    timer = setTimeout(() => resolve({ done: false }), Math.max(0, deadlineMs - Date.now()));
  });
  try {
    return await Promise.race([p.then((value) => ({ done: true as const, value })), late]);
  } finally {
    clearTimeout(timer);
  }
}

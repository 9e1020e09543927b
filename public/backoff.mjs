// When the page tries its socket again: a module of its own so that Node can test it (tests/page/).
//
// Exponential backoff with "equal jitter": the ceiling doubles from 500 ms with each failure in a row,
// up to 15 s, and the delay is a random point in the ceiling's upper half, so that pages dropped
// together (a deploy, API Gateway's 2-hour limit) do not all come back in the same instant.

export const RECONNECT_FIRST_MS = 500;
export const RECONNECT_MAX_MS = 15000;

// `failures`: attempts in a row that ended without opening; `random`: a number in [0, 1).
export function reconnectDelay(failures, random = Math.random) {
  const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** failures);
  return Math.round(ceiling / 2 + random() * ceiling / 2);
}

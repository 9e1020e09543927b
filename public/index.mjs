// The chat page's behaviour: one WebSocket to the URL the server put in <body data-wss-url>, presenting
// the visitor's token (<body data-token>) as a subprotocol next to 'chat', so it stays out of URLs and logs.
// Every text from the network reaches the page through textContent, never innerHTML.

import { reconnectDelay } from './backoff.mjs';
import { seenIds } from './seen.mjs';

const url = document.body.dataset.wssUrl;
const token = document.body.dataset.token;
const me = document.body.dataset.name;
const PROTOCOL = 'chat';
const state = document.getElementById('state');
const list = document.getElementById('messages');
const form = document.getElementById('composer');
const input = document.getElementById('text');
const everyone = document.getElementById('everyone');

let socket = null;
let failures = 0;
const firstTime = seenIds(); // a broadcast may arrive twice (a retried queue message): shown once

function setState(name, text) {
  state.dataset.state = name;
  state.textContent = text;
}

// What each kind of item says before its text, so that colour is never the only clue.
const LABELS = { echo: '', broadcast: 'Everyone', error: 'Error' };

// The page keeps the last KEEP messages; older ones leave the DOM, so a long session (or a flood of
// broadcasts) costs the same memory and layout as a short one. The list scrolls once per frame, not per message.
export const KEEP = 200;
let scrollPending = false;

function scrollToLatest() {
  scrollPending = false;
  list.lastElementChild?.scrollIntoView({ block: 'end' });
}


// When the token stops being accepted (milliseconds since the epoch; 0 when unreadable).
function tokenExpiry(jwt) {
  try {
    const payload = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload)).exp * 1000;
  } catch {
    return 0;
  }
}

function show(kind, text, sender) {
  const item = document.createElement('li');
  item.className = kind;
  if (LABELS[kind]) {
    const label = document.createElement('span');
    label.className = 'kind';
    label.textContent = LABELS[kind];
    item.append(label, ' ');
  }
  if (typeof sender === 'string') {
    const from = document.createElement('span');
    from.className = 'from';
    from.textContent = sender === me ? `${sender} (you)` : sender;
    item.append(from, ' ');
  }
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  item.append(body);
  list.append(item);
  while (list.childElementCount > KEEP) list.firstElementChild.remove();
  if (!scrollPending) {
    scrollPending = true;
    requestAnimationFrame(scrollToLatest);
  }
}

// Replies are {"text": ...} (echo or broadcast), {"error": ...} for a rejected message, or
// API Gateway's own {"message": "Internal server error" | "Forbidden", ...}.
function showReply(raw) {
  let reply;
  try {
    reply = JSON.parse(raw);
  } catch {
    show('error', 'The server sent something that is not JSON.');
    return;
  }
  if (typeof reply?.error === 'string') show('error', reply.error);
  else if (typeof reply?.text === 'string') {
    if (reply.broadcast && typeof reply.id === 'string' && !firstTime(reply.id)) return;
    show(reply.broadcast ? 'broadcast' : 'echo', reply.text, reply.from);
  }
  else if (typeof reply?.message === 'string') show('error', `Server: ${reply.message}`);
  else show('error', 'The server sent a reply this page does not understand.');
}

function connect() {
  if (Date.now() > tokenExpiry(token) - 10_000) {
    setState('connecting', 'Your visit expired; reloading for a new one…');
    window.location.reload();  // GET / gives a fresh token
    return;
  }
  setState('connecting', 'Connecting…');
  socket = new WebSocket(url, [PROTOCOL, token]);
  socket.addEventListener('open', () => {
    failures = 0;
    setState('open', `Connected as ${me}`);
  });
  socket.addEventListener('message', (event) => showReply(event.data));
  socket.addEventListener('close', (event) => {
    const delay = reconnectDelay(failures);
    failures += 1;
    setState('closed', `Disconnected (code ${event.code}); reconnecting in ${(delay / 1000).toFixed(1)} s`);
    setTimeout(connect, delay);
  });
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (socket?.readyState !== WebSocket.OPEN) {
    show('error', 'Not connected yet: the message was not sent.');
    return;
  }
  const message = { text: input.value };
  if (everyone.checked) message.action = 'broadcast';
  socket.send(JSON.stringify(message));
  input.value = '';
});

connect();

// The chat page's behaviour: one WebSocket to the URL the server put in <body data-wss-url>.
// Every text from the network reaches the page through textContent, never innerHTML.

import { reconnectDelay } from './backoff.mjs';
import { seenIds } from './seen.mjs';

const url = document.body.dataset.wssUrl;
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

function show(kind, text) {
  const item = document.createElement('li');
  item.className = kind;
  if (LABELS[kind]) {
    const label = document.createElement('span');
    label.className = 'kind';
    label.textContent = LABELS[kind];
    item.append(label, ' ');
  }
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  item.append(body);
  list.append(item);
  item.scrollIntoView({ block: 'end' });
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
    show(reply.broadcast ? 'broadcast' : 'echo', reply.text);
  }
  else if (typeof reply?.message === 'string') show('error', `Server: ${reply.message}`);
  else show('error', 'The server sent a reply this page does not understand.');
}

function connect() {
  setState('connecting', 'Connecting…');
  socket = new WebSocket(url);
  socket.addEventListener('open', () => {
    failures = 0;
    setState('open', 'Connected');
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

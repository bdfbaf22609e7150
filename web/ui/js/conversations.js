// Conversations kept in this browser only (localStorage); nothing is stored
// on the server. A conversation: {id, title, system, messages: [{role,
// content, stats?}], updated}. Settings (model, sampling) are kept apart so
// a new conversation starts with the last ones used.

const STORE = 'mlxs.conversations';
const SETTINGS = 'mlxs.settings';

function read(key, fallback) {
  try {
    const value = JSON.parse(localStorage.getItem(key));
    return value ?? fallback;
  } catch {
    return fallback;  // a damaged entry must not break the page
  }
}

function write(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or disabled: the page keeps working for this visit.
  }
}

export class ConversationStore {
  constructor() {
    const saved = read(STORE, {});
    this.list = Array.isArray(saved.list) ? saved.list.filter((c) => c && c.id) : [];
    this.currentId = saved.currentId;
    if (!this.current()) this.create();
  }

  current() { return this.list.find((c) => c.id === this.currentId) || null; }

  create() {
    const id = `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    this.list.unshift({ id, title: 'New chat', system: '', messages: [], updated: Date.now() });
    this.currentId = id;
    this.save();
    return this.current();
  }

  select(id) {
    if (this.list.some((c) => c.id === id)) this.currentId = id;
    this.save();
  }

  remove(id) {
    this.list = this.list.filter((c) => c.id !== id);
    if (this.currentId === id) this.currentId = this.list[0]?.id;
    if (!this.current()) this.create();
    this.save();
  }

  // After any change of the current conversation.
  touch() {
    const c = this.current();
    if (c) {
      c.updated = Date.now();
      const first = c.messages.find((m) => m.role === 'user');
      c.title = first ? first.content.slice(0, 40) || 'New chat' : 'New chat';
    }
    this.save();
  }

  save() { write(STORE, { list: this.list, currentId: this.currentId }); }
}

export function loadSettings() { return read(SETTINGS, {}); }

export function saveSettings(settings) { write(SETTINGS, settings); }

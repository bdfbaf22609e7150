// The chat playground: one conversation at a time, streamed from
// POST v1/chat/completions. Stop aborts the fetch; the server sees the
// connection go and cancels the request (its KV blocks are freed).
import { ApiError, apiFetch, apiJson, errorOf } from './api.js';
import { ConversationStore, loadSettings, saveSettings } from './conversations.js';
import { sseData } from './sse.js';

const $ = (id) => document.getElementById(id);
const SAMPLING = ['temperature', 'top_p', 'top_k', 'min_p', 'max_tokens', 'seed'];
const INTEGERS = new Set(['top_k', 'max_tokens', 'seed']);
const SETTING_FIELDS = [...SAMPLING, 'stop', 'schema', 'model'];

export function initChat() {
  const chat = new Chat();
  chat.start();
  return chat;
}

class Chat {
  constructor() {
    this.store = new ConversationStore();
    this.controller = null;
    this.live = null;  // the content element of the answer being streamed
  }

  start() {
    const settings = loadSettings();
    for (const field of SETTING_FIELDS) {
      if (field !== 'model' && settings[field] !== undefined) $(field).value = settings[field];
    }
    for (const field of SETTING_FIELDS) $(field).addEventListener('change', () => this.saveSettings());
    $('system').addEventListener('input', () => {
      this.store.current().system = $('system').value;
      this.store.touch();
    });
    $('composer').addEventListener('submit', (e) => {
      e.preventDefault();
      this.send();
    });
    $('prompt').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        $('composer').requestSubmit();
      }
    });
    $('stop-button').addEventListener('click', () => this.controller?.abort());
    $('regenerate').addEventListener('click', () => this.regenerate());
    $('new-chat').addEventListener('click', () => {
      this.store.create();
      this.renderAll();
      $('prompt').focus();
    });
    this.renderAll();
    this.loadModels(settings.model);
  }

  async loadModels(preferred) {
    const select = $('model');
    try {
      const list = await apiJson('v1/models');
      select.replaceChildren();
      for (const m of list.data || []) select.append(new Option(m.id, m.id));
      if (!select.options.length) {
        select.append(new Option('(no model loaded: load one in the dashboard)', ''));
      } else if (preferred && [...select.options].some((o) => o.value === preferred)) {
        select.value = preferred;
      }
    } catch (e) {
      this.showError(e);
    }
  }

  saveSettings() {
    const settings = {};
    for (const field of SETTING_FIELDS) settings[field] = $(field).value;
    saveSettings(settings);
  }

  // The request body from the settings, or an ApiError for input the page
  // can tell is wrong before the server sees it.
  buildRequest(conversation) {
    const model = $('model').value;
    if (!model) throw new ApiError('ModelNotLoaded', 'no model is loaded: load one in the dashboard');
    const messages = [];
    if (conversation.system.trim()) messages.push({ role: 'system', content: conversation.system });
    for (const m of conversation.messages) messages.push({ role: m.role, content: m.content });
    const body = { model, messages, stream: true, stream_options: { include_usage: true } };
    for (const field of SAMPLING) {
      const raw = $(field).value.trim();
      if (raw === '') continue;
      const value = Number(raw);
      if (!Number.isFinite(value) || (INTEGERS.has(field) && !Number.isInteger(value))) {
        throw new ApiError('InvalidParams', `${field} must be a${INTEGERS.has(field) ? 'n integer' : ' number'}`);
      }
      body[field] = value;
    }
    const stops = $('stop').value.split('\n').filter((s) => s.length > 0);
    if (stops.length) body.stop = stops;
    const schemaText = $('schema').value.trim();
    if (schemaText) {
      let schema;
      try {
        schema = JSON.parse(schemaText);
      } catch (e) {
        throw new ApiError('InvalidParams', `the JSON Schema box is not valid JSON: ${e.message}`);
      }
      body.response_format = { type: 'json_schema', json_schema: { name: 'playground', schema } };
    }
    return body;
  }

  async send() {
    if (this.controller) return;
    const text = $('prompt').value;
    if (!text.trim()) {
      this.showError(new ApiError('EmptyMessage', 'write a message before sending'));
      $('prompt').focus();
      return;
    }
    this.store.current().messages.push({ role: 'user', content: text });
    $('prompt').value = '';
    this.store.touch();
    this.renderAll();
    await this.generate();
  }

  async regenerate() {
    if (this.controller) return;
    const messages = this.store.current().messages;
    if (messages.at(-1)?.role === 'assistant') messages.pop();
    if (messages.at(-1)?.role !== 'user') return;
    this.store.touch();
    this.renderAll();
    await this.generate();
  }

  async generate() {
    this.showError(null);
    const conversation = this.store.current();
    let request;
    try {
      request = this.buildRequest(conversation);
    } catch (e) {
      this.showError(e);
      return;
    }
    const answer = { role: 'assistant', content: '' };
    conversation.messages.push(answer);
    this.renderAll();
    this.setBusy(true);
    this.controller = new AbortController();
    const started = performance.now();
    let first = null;
    let finish = null;
    let usage = null;
    let pieces = 0;
    let failure = null;
    try {
      const response = await apiFetch('v1/chat/completions', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(request),
        signal: this.controller.signal,
      });
      if (!response.ok) throw await errorOf(response);
      for await (const data of sseData(response.body)) {
        if (data === '[DONE]') break;
        const chunk = JSON.parse(data);
        if (chunk.error) {
          throw new ApiError(chunk.error.code, chunk.error.message, 0, chunk.error.details);
        }
        if (chunk.usage) usage = chunk.usage;
        for (const choice of chunk.choices || []) {
          const piece = choice.delta?.content;
          if (piece) {
            first ??= performance.now();
            pieces += 1;
            answer.content += piece;
            if (this.live) this.live.textContent = answer.content;
          }
          if (choice.finish_reason) finish = choice.finish_reason;
        }
      }
    } catch (e) {
      if (e.name === 'AbortError') finish = 'stopped';
      else failure = e;
    }
    const ended = performance.now();
    this.controller = null;
    this.setBusy(false);
    if (failure && !answer.content) {
      conversation.messages.pop();  // nothing came: keep the question, show why
    } else {
      const tokens = usage?.completion_tokens ?? pieces;
      answer.stats = {
        tokens,
        ttft_ms: first === null ? null : Math.round(first - started),
        tokens_per_s: first !== null && tokens > 1 && ended > first
          ? (tokens - 1) / ((ended - first) / 1000) : null,
        finish: failure ? 'error' : (finish ?? 'unknown'),
        json: request.response_format ? parsesAsJson(answer.content) : undefined,
      };
    }
    this.store.touch();
    this.renderAll();
    if (failure) {
      this.showError(failure);
    } else {
      $('chat-status').textContent = finish === 'stopped' ? 'Stopped.' : `Answer complete (finish: ${finish}).`;
    }
  }

  setBusy(busy) {
    $('send').disabled = busy;
    $('stop-button').disabled = !busy;
    $('regenerate').disabled = busy || !this.store.current().messages.some((m) => m.role === 'user');
    $('chat-status').textContent = busy ? 'Generating…' : '';
  }

  showError(error) {
    const box = $('chat-error');
    if (!error) {
      box.hidden = true;
      box.textContent = '';
      return;
    }
    box.textContent = error instanceof ApiError ? error.describe() : `Error: ${error.message}`;
    box.hidden = false;
  }

  renderAll() {
    this.renderConversations();
    const conversation = this.store.current();
    $('system').value = conversation.system;
    const list = $('messages');
    list.replaceChildren();
    this.live = null;
    conversation.messages.forEach((m, i) => list.append(this.renderMessage(conversation, m, i)));
    this.setBusy(Boolean(this.controller));
  }

  renderConversations() {
    const list = $('conversation-list');
    list.replaceChildren();
    for (const c of this.store.list) {
      const item = document.createElement('li');
      const open = button(c.title || 'New chat', 'open', () => {
        if (this.controller) return;
        this.store.select(c.id);
        this.showError(null);
        this.renderAll();
      });
      if (c.id === this.store.currentId) open.setAttribute('aria-current', 'true');
      const del = button('✕', 'delete', () => {
        if (this.controller && c.id === this.store.currentId) return;
        this.store.remove(c.id);
        this.renderAll();
      });
      del.setAttribute('aria-label', `Delete conversation ${c.title}`);
      item.append(open, del);
      list.append(item);
    }
  }

  renderMessage(conversation, message, index) {
    const item = document.createElement('li');
    item.className = message.role;
    const role = document.createElement('div');
    role.className = 'role';
    role.textContent = message.role === 'user' ? 'You' : 'Assistant';
    const content = document.createElement('div');
    content.className = 'content';
    content.textContent = message.content;
    item.append(role, content);
    if (message.role === 'assistant') {
      if (message.stats) {
        item.dataset.finish = message.stats.finish;
        item.append(statsLine(message.stats));
      } else {
        this.live = content;  // still streaming
      }
    } else {
      const tools = document.createElement('div');
      tools.className = 'tools';
      tools.append(button('Edit', 'edit', () => this.edit(conversation, index, item)));
      item.append(tools);
    }
    return item;
  }

  // An earlier question edited in place: what followed it is dropped and
  // the answer generated again.
  edit(conversation, index, item) {
    if (this.controller) return;
    const editor = document.createElement('textarea');
    editor.value = conversation.messages[index].content;
    editor.rows = 3;
    editor.setAttribute('aria-label', 'Edit message');
    const save = button('Save and resend', 'save', () => {
      if (!editor.value.trim()) {
        this.showError(new ApiError('EmptyMessage', 'write a message before sending'));
        return;
      }
      conversation.messages[index].content = editor.value;
      conversation.messages.splice(index + 1);
      this.store.touch();
      this.renderAll();
      this.generate();
    });
    const cancel = button('Cancel', 'cancel', () => this.renderAll());
    const tools = document.createElement('div');
    tools.className = 'tools';
    tools.append(save, cancel);
    item.replaceChildren(item.querySelector('.role'), editor, tools);
    editor.focus();
  }
}

function button(label, className, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = className;
  b.textContent = label;
  b.addEventListener('click', onClick);
  return b;
}

function parsesAsJson(text) {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function statsLine(stats) {
  const parts = [];
  parts.push(stats.tokens_per_s === null ? '– tok/s' : `${stats.tokens_per_s.toFixed(1)} tok/s`);
  parts.push(stats.ttft_ms === null ? 'TTFT –' : `TTFT ${stats.ttft_ms} ms`);
  parts.push(`${stats.tokens} tokens`);
  parts.push(`finish: ${stats.finish}`);
  if (stats.json !== undefined) parts.push(stats.json ? 'JSON parses' : 'JSON does not parse');
  const line = document.createElement('div');
  line.className = 'stats';
  line.textContent = parts.join(' · ');
  return line;
}

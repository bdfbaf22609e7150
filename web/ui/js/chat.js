// The chat playground: one conversation at a time, streamed from
// POST v1/chat/completions. Stop aborts the fetch; the server sees the
// connection go and cancels the request (its KV blocks are freed).
import {ApiError, apiFetch, apiJson, errorOf} from './api.js';
import {readAttachment} from './attachment.js';
import {answerStats, buildRequest, SAMPLING} from './chat_request.js';
import {ConversationStore, loadSettings, saveSettings} from './conversations.js';
import {button, messageItem} from './message_view.js';
import {sseData} from './sse.js';

const $ = (id) => document.getElementById(id);
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
    this.live = null;        // the content element of the answer being streamed
    this.attachment = null;  // {name, url} for the next message
  }

  start() {
    const settings = loadSettings();
    for (const field of SETTING_FIELDS) {
      if (field !== 'model' && settings[field] !== undefined) $(field).value = settings[field];
    }
    for (const field of SETTING_FIELDS)
      $(field).addEventListener('change', () => this.saveSettings());
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
    $('attach').addEventListener('change', () => this.attach());
    $('attach-clear').addEventListener('click', () => this.setAttachment(null));
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

  async attach() {
    const file = $('attach').files[0];
    if (!file) return;
    try {
      this.setAttachment(await readAttachment(file));
      this.showError(null);
    } catch (e) {
      this.setAttachment(null);
      this.showError(e);
    }
  }

  setAttachment(attachment) {
    this.attachment = attachment;
    if (!attachment) $('attach').value = '';
    $('attach-name').textContent = attachment ? `Attached: ${attachment.name}` : '';
    $('attach-clear').hidden = !attachment;
  }

  async send() {
    if (this.controller) return;
    const text = $('prompt').value;
    if (!text.trim()) {
      this.showError(new ApiError('EmptyMessage', 'write a message before sending'));
      $('prompt').focus();
      return;
    }
    const message = { role: 'user', content: text };
    if (this.attachment) message.image = this.attachment;
    this.store.current().messages.push(message);
    $('prompt').value = '';
    this.setAttachment(null);
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
      request = buildRequest(conversation);
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
      if (e.name === 'AbortError')
        finish = 'stopped';
      else
        failure = e;
    }
    const ended = performance.now();
    this.controller = null;
    this.setBusy(false);
    if (failure && !answer.content) {
      conversation.messages.pop();  // nothing came: keep the question, show why
    } else {
      answer.stats = answerStats({
        started,
        first,
        ended,
        usage,
        pieces,
        finish,
        failure,
        structured: Boolean(request.response_format),
        text: answer.content
      });
    }
    this.store.touch();
    this.renderAll();
    if (failure) {
      this.showError(failure);
    } else {
      $('chat-status').textContent =
        finish === 'stopped' ? 'Stopped.' : `Answer complete (finish: ${finish}).`;
    }
  }

  setBusy(busy) {
    $('send').disabled = busy;
    $('stop-button').disabled = !busy;
    $('regenerate').disabled =
      busy || !this.store.current().messages.some((m) => m.role === 'user');
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
    const item = messageItem(message, (li) => this.edit(conversation, index, li));
    if (message.role === 'assistant' && !message.stats) this.live = item.querySelector('.content');
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

// The chat request body from the settings form, and the numbers shown under
// an answer. Input the page can judge itself is refused here with a coded
// ApiError, before anything is sent.
import {ApiError} from './api.js';

const $ = (id) => document.getElementById(id);
export const SAMPLING = ['temperature', 'top_p', 'top_k', 'min_p', 'max_tokens', 'seed'];
const INTEGERS = new Set(['top_k', 'max_tokens', 'seed']);

// A message as the API takes it: text, or text and an image as content parts.
function apiMessage(m) {
  if (!m.image) return { role: m.role, content: m.content };
  return {
    role: m.role,
    content:
      [{ type: 'text', text: m.content }, { type: 'image_url', image_url: { url: m.image.url } }],
  };
}

export function buildRequest(conversation) {
  const model = $('model').value;
  if (!model) throw new ApiError('ModelNotLoaded', 'no model is loaded: load one in the dashboard');
  const messages = [];
  if (conversation.system.trim()) messages.push({ role: 'system', content: conversation.system });
  for (const m of conversation.messages) messages.push(apiMessage(m));
  const body = { model, messages, stream: true, stream_options: { include_usage: true } };
  for (const field of SAMPLING) {
    const raw = $(field).value.trim();
    if (raw === '') continue;
    const value = Number(raw);
    if (!Number.isFinite(value) || (INTEGERS.has(field) && !Number.isInteger(value))) {
      throw new ApiError(
        'InvalidParams', `${field} must be a${INTEGERS.has(field) ? 'n integer' : ' number'}`);
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

// Decode speed counts the tokens after the first over the time after it, so
// the prompt's prefill (in TTFT) does not dilute it.
export function answerStats(
  {started, first, ended, usage, pieces, finish, failure, structured, text}) {
  const tokens = usage?.completion_tokens ?? pieces;
  return {
    tokens,
    ttft_ms: first === null ? null : Math.round(first - started),
    tokens_per_s: first !== null && tokens > 1 && ended > first ?
      (tokens - 1) / ((ended - first) / 1000) :
      null,
    finish: failure ? 'error' : (finish ?? 'unknown'),
    json: structured ? parsesAsJson(text) : undefined,
  };
}

function parsesAsJson(text) {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

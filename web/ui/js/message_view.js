// One message of the conversation as a list item: who said it, the text
// (always as text, never as HTML), an attached image's name, the stats line
// under an answer, and the Edit button of a question.

export function button(label, className, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = className;
  b.textContent = label;
  b.addEventListener('click', onClick);
  return b;
}

// `onEdit` is called with the item for a user message; an answer without
// stats is still streaming (its .content element is the live one).
export function messageItem(message, onEdit) {
  const item = document.createElement('li');
  item.className = message.role;
  const role = document.createElement('div');
  role.className = 'role';
  role.textContent = message.role === 'user' ? 'You' : 'Assistant';
  const content = document.createElement('div');
  content.className = 'content';
  content.textContent = message.content;
  item.append(role, content);
  if (message.image) {
    const note = document.createElement('div');
    note.className = 'stats';
    note.textContent = `Image attached: ${message.image.name}`;
    item.append(note);
  }
  if (message.role === 'assistant') {
    if (message.stats) {
      item.dataset.finish = message.stats.finish;
      item.append(statsLine(message.stats));
    }
  } else {
    const tools = document.createElement('div');
    tools.className = 'tools';
    tools.append(button('Edit', 'edit', () => onEdit(item)));
    item.append(tools);
  }
  return item;
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

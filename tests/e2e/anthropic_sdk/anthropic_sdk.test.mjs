// The official @anthropic-ai/sdk (pinned in package.json) against a live llmux.
//
//   LLMUX_BASE_URL  e.g. http://127.0.0.1:PORT (the SDK appends /v1/messages)
//   LLMUX_API_KEY   a client key the gateway accepts
//   LLMUX_MODEL     the model to ask for (routed to the mock, directly or
//                   through the claude plugin)
//
// tests/e2e/run_anthropic_sdk.sh sets all of this up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';

const baseURL = process.env.LLMUX_BASE_URL;
const apiKey = process.env.LLMUX_API_KEY;
const MODEL = process.env.LLMUX_MODEL || 'claude-mock';
if (!baseURL || !apiKey) throw new Error('set LLMUX_BASE_URL and LLMUX_API_KEY');

// No retries: a retried failure would hide what the gateway answered first.
const client = new Anthropic({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });

const WRITE_TOOL = {
  name: 'Write',
  description: 'Write a file to the local filesystem.',
  input_schema: {
    type: 'object',
    properties: { file_path: { type: 'string' }, content: { type: 'string' } },
    required: ['file_path', 'content'],
  },
};

const PROMPT = 'Say something about the llmux gateway, in a sentence or two please.';

function textOf(message) {
  return message.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
}

function assertMessageShape(message) {
  assert.equal(message.type, 'message');
  assert.equal(message.role, 'assistant');
  assert.match(message.id, /^msg_/);
  assert.equal(message.model, MODEL);
  assert.ok(Array.isArray(message.content) && message.content.length > 0, 'empty content');
  assert.ok(message.usage.input_tokens > 0, `input_tokens ${message.usage.input_tokens}`);
  assert.ok(message.usage.output_tokens > 0, `output_tokens ${message.usage.output_tokens}`);
}

test('messages.create: text', async () => {
  const message = await client.messages.create({
    model: MODEL, max_tokens: 256, messages: [{ role: 'user', content: PROMPT }],
  });
  assertMessageShape(message);
  assert.equal(message.stop_reason, 'end_turn');
  assert.ok(textOf(message).includes('llmux gateway'), textOf(message));
});

test('messages.create: system blocks with cache_control, content blocks', async () => {
  const message = await client.messages.create({
    model: MODEL,
    max_tokens: 256,
    system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'hello from blocks' }] }],
    metadata: { user_id: 'e2e' },
  });
  assertMessageShape(message);
  assert.ok(textOf(message).length > 0);
});

test('messages.stream().finalMessage(): text', async () => {
  const stream = client.messages.stream({
    model: MODEL, max_tokens: 256, messages: [{ role: 'user', content: PROMPT }],
  });
  const deltas = [];
  stream.on('text', (t) => deltas.push(t));
  const message = await stream.finalMessage();
  assertMessageShape(message);
  assert.equal(message.stop_reason, 'end_turn');
  assert.ok(deltas.length > 1, `expected several text deltas, got ${deltas.length}`);
  assert.equal(deltas.join(''), textOf(message));
});

test('raw stream events: order and message_start usage', async () => {
  const stream = await client.messages.create({
    model: MODEL, max_tokens: 256, stream: true, messages: [{ role: 'user', content: PROMPT }],
  });
  const types = [];
  let start;
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === 'message_start') start = event.message;
  }
  assert.equal(types[0], 'message_start');
  assert.equal(types.filter((t) => t === 'message_start').length, 1);
  assert.equal(types.at(-1), 'message_stop');
  assert.equal(types.at(-2), 'message_delta');
  assert.ok(start.usage.input_tokens > 0, 'message_start usage must not be all zeros');
  assert.ok(types.includes('content_block_start') && types.includes('content_block_stop'));
});

test('tool use round trip: create, then tool_result, streamed', async () => {
  const messages = [{ role: 'user', content: 'create hello.txt with the text hello' }];
  const first = await client.messages.stream({
    model: MODEL, max_tokens: 1024, tools: [WRITE_TOOL], messages,
  }).finalMessage();
  assert.equal(first.stop_reason, 'tool_use');
  const uses = first.content.filter((b) => b.type === 'tool_use');
  assert.equal(uses.length, 1);
  assert.equal(uses[0].name, 'Write');
  assert.match(uses[0].id, /\S+/);
  assert.equal(typeof uses[0].input, 'object');
  assert.equal(uses[0].input.file_path, 'hello.txt');
  assert.equal(uses[0].input.content, 'hello');

  messages.push({ role: 'assistant', content: first.content });
  messages.push({
    role: 'user',
    content: [{ type: 'tool_result', tool_use_id: uses[0].id, content: 'File created successfully' }],
  });
  const second = await client.messages.stream({
    model: MODEL, max_tokens: 1024, tools: [WRITE_TOOL], messages,
  }).finalMessage();
  assert.equal(second.stop_reason, 'end_turn');
  assert.ok(textOf(second).length > 0);
  assert.equal(second.content.filter((b) => b.type === 'tool_use').length, 0);
});

test('tool use, non-streamed', async () => {
  const message = await client.messages.create({
    model: MODEL, max_tokens: 1024, tools: [WRITE_TOOL], tool_choice: { type: 'auto' },
    messages: [{ role: 'user', content: 'create notes.md with the text hi' }],
  });
  assert.equal(message.stop_reason, 'tool_use');
  const use = message.content.find((b) => b.type === 'tool_use');
  assert.deepEqual(use.input, { file_path: 'notes.md', content: 'hi' });
});

test('count_tokens', async () => {
  const counted = await client.messages.countTokens({
    model: MODEL, messages: [{ role: 'user', content: PROMPT }],
  });
  assert.ok(Number.isInteger(counted.input_tokens) && counted.input_tokens > 0, JSON.stringify(counted));
});

test('models.list', async () => {
  const page = await client.models.list();
  assert.ok(page.data.some((m) => m.id === MODEL), JSON.stringify(page.data));
});

test('unknown model: NotFoundError', async () => {
  await assert.rejects(
    client.messages.create({ model: 'no-such-model', max_tokens: 16, messages: [{ role: 'user', content: 'x' }] }),
    (err) => err instanceof Anthropic.NotFoundError && err.status === 404 && err.error?.type === 'error' &&
      err.error?.error?.type === 'not_found_error',
  );
});

test('invalid request: BadRequestError', async () => {
  await assert.rejects(
    client.messages.create({ model: MODEL, max_tokens: 16, messages: 'not a list' }),
    (err) => err instanceof Anthropic.BadRequestError && err.error?.error?.type === 'invalid_request_error',
  );
});

// An upstream failure before any event reaches the client as the SDK's error
// class for it. Through the claude plugin a 429 would (rightly) cool down the
// pool's only token, so that run injects a 400 instead (LLMUX_FAULT_STATUS).
const FAULT = Number(process.env.LLMUX_FAULT_STATUS || 429);
const FAULT_CLASS = { 400: [Anthropic.BadRequestError, 'invalid_request_error'],
  429: [Anthropic.RateLimitError, 'rate_limit_error'] }[FAULT];

test(`injected upstream ${FAULT}, streamed: error class before any event`, async () => {
  await assert.rejects(
    (async () => {
      const stream = await client.messages.create({
        model: MODEL, max_tokens: 16, stream: true,
        messages: [{ role: 'user', content: `[[mock:fail=${FAULT}]] hi` }],
      });
      for await (const _ of stream) { /* drain */ }
    })(),
    (err) => err instanceof FAULT_CLASS[0] && err.status === FAULT && err.error?.error?.type === FAULT_CLASS[1],
  );
});

test('wrong API key: AuthenticationError', async () => {
  const wrong = new Anthropic({ baseURL, apiKey: 'wrong-key', maxRetries: 0 });
  await assert.rejects(
    wrong.messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'x' }] }),
    (err) => err instanceof Anthropic.AuthenticationError && err.error?.error?.type === 'authentication_error',
  );
});

test('raw wire: every SSE message has an event: line matching its type', async () => {
  const response = await fetch(`${baseURL}/v1/messages?beta=true`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': apiKey, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: MODEL, max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type'), /^text\/event-stream/);
  const text = await response.text();
  assert.ok(text.endsWith('\n\n'), 'stream must end with a blank line');
  const frames = text.trim().split('\n\n');
  for (const frame of frames) {
    const lines = frame.split('\n');
    assert.match(lines[0], /^event: [a-z_]+$/, frame);
    assert.match(lines[1], /^data: /, frame);
    assert.equal(JSON.parse(lines[1].slice(6)).type, lines[0].slice(7));
  }
});

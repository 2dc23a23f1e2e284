// The official openai npm SDK's Responses API (client.responses) against a
// live llmux: streamed and whole answers, a function tool round trip, stored
// responses and previous_response_id. Same environment as openai_sdk.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = process.env.LLMUX_BASE_URL;
const apiKey = process.env.LLMUX_API_KEY;
if (!baseURL || !apiKey) {
  throw new Error('set LLMUX_BASE_URL (http://HOST:PORT/v1) and LLMUX_API_KEY');
}
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });
const MODEL = 'mock';
const PROMPT = 'Say something about the llmux gateway, in a sentence or two please.';

const WRITE_TOOL = {
  type: 'function',
  name: 'write',
  description: 'Write a file',
  parameters: {
    type: 'object',
    properties: { filePath: { type: 'string' }, content: { type: 'string' } },
    required: ['filePath', 'content'],
  },
  strict: false,
};

function assertUsage(usage) {
  assert.ok(usage, 'no usage');
  assert.ok(usage.input_tokens > 0, `input_tokens ${usage.input_tokens}`);
  assert.ok(usage.output_tokens > 0, `output_tokens ${usage.output_tokens}`);
  assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens);
  assert.equal(typeof usage.input_tokens_details?.cached_tokens, 'number');
  assert.equal(typeof usage.output_tokens_details?.reasoning_tokens, 'number');
}

test('responses.create, whole: a response object with output_text and usage', async () => {
  const response = await client.responses.create({ model: MODEL, input: PROMPT });
  assert.equal(response.object, 'response');
  assert.match(response.id, /^resp_/);
  assert.equal(response.status, 'completed');
  assert.equal(response.model, MODEL);
  assert.ok(response.output_text.includes(PROMPT), `answer does not echo the prompt: ${response.output_text}`);
  const message = response.output.find((item) => item.type === 'message');
  assert.equal(message.role, 'assistant');
  assert.equal(message.content[0].type, 'output_text');
  assertUsage(response.usage);
});

test('responses.create, streamed: every event in order, one terminal response.completed', async () => {
  const stream = await client.responses.create({ model: MODEL, input: PROMPT, stream: true });
  const types = [];
  let last = -1;
  let text = '';
  let completed;
  for await (const event of stream) {
    assert.ok(event.sequence_number > last, `sequence_number ${event.sequence_number} after ${last}`);
    last = event.sequence_number;
    types.push(event.type);
    if (event.type === 'response.output_text.delta') text += event.delta;
    if (event.type === 'response.completed') completed = event.response;
  }
  assert.equal(types[0], 'response.created');
  assert.equal(types[1], 'response.in_progress');
  assert.equal(types.at(-1), 'response.completed');
  for (const type of ['response.output_item.added', 'response.content_part.added', 'response.output_text.done',
    'response.content_part.done', 'response.output_item.done']) {
    assert.ok(types.includes(type), `no ${type} in ${types.join(' ')}`);
  }
  assert.equal(types.filter((t) => t === 'response.completed' || t === 'response.failed').length, 1);
  assert.ok(text.includes(PROMPT));
  assert.equal(completed.output[0].content[0].text, text);
  assertUsage(completed.usage);
});

test('responses.stream helper: finalResponse', async () => {
  const stream = client.responses.stream({ model: MODEL, input: [{ role: 'user', content: PROMPT }] });
  const final = await stream.finalResponse();
  assert.equal(final.status, 'completed');
  assert.ok(final.output_text.includes(PROMPT));
});

test('function tool round trip over previous_response_id', async () => {
  const first = await client.responses.create({
    model: MODEL,
    input: 'Create the file hello.txt containing hello',
    tools: [WRITE_TOOL],
  });
  const call = first.output.find((item) => item.type === 'function_call');
  assert.ok(call, `no function_call in ${JSON.stringify(first.output)}`);
  assert.equal(call.name, 'write');
  assert.match(call.call_id, /.+/);
  const args = JSON.parse(call.arguments);
  assert.equal(typeof args.filePath, 'string');
  assert.equal(typeof args.content, 'string');

  // The next turn names only the tool output: the call comes from the store.
  const stream = client.responses.stream({
    model: MODEL,
    previous_response_id: first.id,
    input: [{ type: 'function_call_output', call_id: call.call_id, output: 'Wrote hello.txt' }],
    tools: [WRITE_TOOL],
  });
  const second = await stream.finalResponse();
  assert.equal(second.status, 'completed');
  assert.equal(second.previous_response_id, first.id);
  assert.ok(second.output_text.length > 0, 'no text after the tool result');
  assert.ok(!second.output.some((item) => item.type === 'function_call'), 'called the tool again');

  // The stored input of the second turn: the first turn's input, its call, the output.
  const items = [];
  for await (const item of client.responses.inputItems.list(second.id, { order: 'asc' })) items.push(item);
  assert.deepEqual(items.map((item) => item.type), ['message', 'function_call', 'function_call_output']);
  assert.equal(items[1].call_id, call.call_id);
  assert.equal(items[1].arguments, call.arguments);
});

test('stored responses: retrieve, delete, then 404; unknown previous_response_id is a 400', async () => {
  const created = await client.responses.create({ model: MODEL, input: PROMPT });
  const fetched = await client.responses.retrieve(created.id);
  assert.equal(fetched.id, created.id);
  assert.equal(fetched.output_text, created.output_text);
  await client.responses.delete(created.id);
  await assert.rejects(client.responses.retrieve(created.id), (error) => {
    assert.ok(error instanceof OpenAI.NotFoundError, `${error}`);
    return true;
  });
  await assert.rejects(
    client.responses.create({ model: MODEL, input: PROMPT, previous_response_id: 'resp_unknown' }),
    (error) => {
      assert.ok(error instanceof OpenAI.BadRequestError, `${error}`);
      assert.equal(error.code, 'previous_response_not_found');
      return true;
    });
});

test('store: false keeps nothing', async () => {
  const created = await client.responses.create({ model: MODEL, input: PROMPT, store: false });
  await assert.rejects(client.responses.retrieve(created.id), OpenAI.NotFoundError);
});

test('unknown model: NotFoundError before any event', async () => {
  await assert.rejects(client.responses.create({ model: 'no-such-model', input: PROMPT, stream: true }),
    OpenAI.NotFoundError);
});

// The official openai npm SDK (pinned in package.json) against a live llmux.
//
//   LLMUX_BASE_URL  e.g. http://127.0.0.1:PORT/v1
//   LLMUX_API_KEY   a client key the gateway accepts
//
// The gateway must route model "mock" to the mock plugin with its defaults
// (tool_calls: auto, no injected faults), "text-embedding-*" to a chain that
// ends in the mock's embeddings, and require client keys.
// tests/e2e/run_openai_sdk.sh sets all of this up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = process.env.LLMUX_BASE_URL;
const apiKey = process.env.LLMUX_API_KEY;
if (!baseURL || !apiKey) {
  throw new Error('set LLMUX_BASE_URL (http://HOST:PORT/v1) and LLMUX_API_KEY');
}

// No retries: a retried failure would hide what the gateway answered first.
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });

const MODEL = 'mock';

const WRITE_TOOL = {
  type: 'function',
  function: {
    name: 'write',
    description: 'Write a file',
    parameters: {
      type: 'object',
      properties: {
        filePath: { type: 'string' },
        content: { type: 'string' },
      },
      required: ['filePath', 'content'],
    },
  },
};

// A prompt long enough that the mock splits its answer into several deltas.
const PROMPT = 'Say something about the llmux gateway, in a sentence or two please.';

function userTurn(text) {
  return [{ role: 'user', content: text }];
}

function assertWriteToolCall(message) {
  assert.ok(Array.isArray(message.tool_calls), `no tool_calls in ${JSON.stringify(message)}`);
  assert.equal(message.tool_calls.length, 1);
  const call = message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.ok(typeof call.id === 'string' && call.id.length > 0, 'tool call without id');
  assert.equal(call.function.name, 'write');
  const args = JSON.parse(call.function.arguments);
  assert.equal(typeof args.filePath, 'string');
  assert.ok(args.filePath.length > 0);
  assert.equal(typeof args.content, 'string');
  return call;
}

async function expectApiError(promise, ErrorClass, status) {
  let caught;
  try {
    await promise;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught, `expected ${ErrorClass.name}, but the call succeeded`);
  assert.ok(
    caught instanceof ErrorClass,
    `expected ${ErrorClass.name}, got ${caught?.constructor?.name}: ${caught?.message}`,
  );
  assert.equal(caught.status, status);
  return caught;
}

// Non-streamed text answer for PROMPT, shared by the stream comparisons.
let nonStreamText;
async function nonStreamAnswer() {
  if (nonStreamText === undefined) {
    const completion = await client.chat.completions.create({ model: MODEL, messages: userTurn(PROMPT) });
    nonStreamText = completion.choices[0].message.content;
  }
  return nonStreamText;
}

test('non-streamed chat completion', async () => {
  const completion = await client.chat.completions.create({ model: MODEL, messages: userTurn(PROMPT) });
  assert.equal(completion.object, 'chat.completion');
  assert.match(completion.id, /^chatcmpl-/);
  assert.equal(completion.model, MODEL);
  assert.equal(completion.choices.length, 1);
  const choice = completion.choices[0];
  assert.equal(choice.index, 0);
  assert.equal(choice.message.role, 'assistant');
  assert.equal(typeof choice.message.content, 'string');
  assert.ok(choice.message.content.length > 0, 'empty content');
  assert.ok(choice.message.content.includes(PROMPT), `answer does not echo the prompt: ${choice.message.content}`);
  assert.equal(choice.finish_reason, 'stop');
  assert.ok(completion.usage, 'no usage');
  assert.ok(completion.usage.prompt_tokens > 0);
  assert.ok(completion.usage.completion_tokens > 0);
  assert.ok(completion.usage.total_tokens > 0);
  assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + completion.usage.completion_tokens);
});

test('user content as an array of text parts', async () => {
  const completion = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: [{ type: 'text', text: PROMPT }] }],
  });
  assert.equal(completion.choices[0].finish_reason, 'stop');
  assert.equal(completion.choices[0].message.content, await nonStreamAnswer());
});

test('streamed chat completion with include_usage', async () => {
  const stream = await client.chat.completions.create({
    model: MODEL,
    messages: userTurn(PROMPT),
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.ok(chunks.length >= 3, `only ${chunks.length} chunks`);

  const ids = new Set(chunks.map((c) => c.id));
  assert.equal(ids.size, 1, `chunks carry different ids: ${[...ids]}`);
  assert.match(chunks[0].id, /^chatcmpl-/);
  for (const c of chunks) {
    assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(c.model, MODEL);
  }

  assert.equal(chunks[0].choices.length, 1);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant', 'first chunk has no assistant role');

  const finishes = chunks.flatMap((c) => c.choices.filter((ch) => ch.finish_reason != null));
  assert.equal(finishes.length, 1, `expected exactly one finish_reason, got ${finishes.length}`);
  assert.equal(finishes[0].finish_reason, 'stop');

  const last = chunks[chunks.length - 1];
  assert.deepEqual(last.choices, [], 'usage chunk must have empty choices');
  assert.ok(last.usage, 'last chunk has no usage');
  assert.ok(last.usage.total_tokens > 0);
  for (const c of chunks.slice(0, -1)) assert.ok(!c.usage, 'usage before the last chunk');

  const text = chunks
    .flatMap((c) => c.choices)
    .map((ch) => ch.delta?.content ?? '')
    .join('');
  const contentChunks = chunks.filter((c) => c.choices.some((ch) => ch.delta?.content));
  assert.ok(contentChunks.length >= 2, 'answer should arrive in several deltas');
  assert.equal(text, await nonStreamAnswer());
});

test('streamed chat completion without include_usage has no usage chunk', async () => {
  const stream = await client.chat.completions.create({ model: MODEL, messages: userTurn(PROMPT), stream: true });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  for (const c of chunks) {
    assert.ok(!c.usage, `unexpected usage: ${JSON.stringify(c)}`);
    assert.equal(c.choices.length, 1);
  }
  assert.equal(chunks[chunks.length - 1].choices[0].finish_reason, 'stop');
});

test('stream helper: finalChatCompletion', async () => {
  const stream = client.chat.completions.stream({
    model: MODEL,
    messages: userTurn(PROMPT),
    stream_options: { include_usage: true },
  });
  let deltas = '';
  stream.on('content', (delta) => {
    deltas += delta;
  });
  const final = await stream.finalChatCompletion();
  const expected = await nonStreamAnswer();
  assert.equal(final.choices[0].message.content, expected);
  assert.equal(final.choices[0].message.role, 'assistant');
  assert.equal(final.choices[0].finish_reason, 'stop');
  assert.equal(deltas, expected);
  assert.ok(final.usage && final.usage.total_tokens > 0, 'no usage in the final completion');
  assert.equal(await stream.finalContent(), expected);
});

test('tool call, non-streamed', async () => {
  const completion = await client.chat.completions.create({
    model: MODEL,
    messages: userTurn('Create hello.txt containing a greeting.'),
    tools: [WRITE_TOOL],
    tool_choice: 'auto',
  });
  const choice = completion.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  assertWriteToolCall(choice.message);
});

test('tool call, streamed through finalChatCompletion', async () => {
  const stream = client.chat.completions.stream({
    model: MODEL,
    messages: userTurn('Create hello.txt containing a greeting.'),
    tools: [WRITE_TOOL],
    tool_choice: 'auto',
    parallel_tool_calls: false,
    stream_options: { include_usage: true },
  });
  const final = await stream.finalChatCompletion();
  const choice = final.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  assertWriteToolCall(choice.message);
});

test('tool call, streamed: raw chunks', async () => {
  const stream = await client.chat.completions.create({
    model: MODEL,
    messages: userTurn('Create hello.txt containing a greeting.'),
    tools: [WRITE_TOOL],
    stream: true,
    stream_options: { include_usage: true },
  });
  const toolDeltas = [];
  const finishes = [];
  for await (const chunk of stream) {
    for (const ch of chunk.choices) {
      if (ch.delta?.tool_calls) toolDeltas.push(...ch.delta.tool_calls);
      if (ch.finish_reason != null) finishes.push(ch.finish_reason);
    }
  }
  assert.deepEqual(finishes, ['tool_calls']);
  assert.ok(toolDeltas.length >= 2, 'arguments should arrive in several fragments');
  assert.equal(toolDeltas[0].index, 0);
  assert.ok(toolDeltas[0].id, 'first tool call delta has no id');
  assert.equal(toolDeltas[0].type, 'function');
  assert.equal(toolDeltas[0].function.name, 'write');
  for (const d of toolDeltas.slice(1)) {
    assert.equal(d.index, 0);
    assert.ok(!d.id, 'only the first delta of a call carries its id');
  }
  const args = JSON.parse(toolDeltas.map((d) => d.function?.arguments ?? '').join(''));
  assert.equal(typeof args.filePath, 'string');
  assert.equal(typeof args.content, 'string');
});

test('follow-up turn with the tool result answers with text', async () => {
  const messages = userTurn('Create hello.txt containing a greeting.');
  const first = await client.chat.completions.create({ model: MODEL, messages, tools: [WRITE_TOOL] });
  const call = assertWriteToolCall(first.choices[0].message);

  messages.push({ role: 'assistant', content: null, tool_calls: first.choices[0].message.tool_calls });
  messages.push({ role: 'tool', tool_call_id: call.id, content: 'Wrote hello.txt' });

  const second = await client.chat.completions.create({ model: MODEL, messages, tools: [WRITE_TOOL] });
  const choice = second.choices[0];
  assert.equal(choice.finish_reason, 'stop');
  assert.ok(!choice.message.tool_calls || choice.message.tool_calls.length === 0, 'tool called again');
  assert.equal(typeof choice.message.content, 'string');
  assert.ok(choice.message.content.length > 0);

  // The same turn streamed.
  const final = await client.chat.completions
    .stream({ model: MODEL, messages, tools: [WRITE_TOOL], stream_options: { include_usage: true } })
    .finalChatCompletion();
  assert.equal(final.choices[0].finish_reason, 'stop');
  assert.equal(final.choices[0].message.content, choice.message.content);
});

test('unknown model: NotFoundError model_not_found', async () => {
  const err = await expectApiError(
    client.chat.completions.create({ model: 'no-such-model-e2e', messages: userTurn('hi') }),
    OpenAI.NotFoundError,
    404,
  );
  assert.equal(err.code, 'model_not_found');
  assert.equal(err.type, 'invalid_request_error');
});

test('unknown model, streamed: NotFoundError before any chunk', async () => {
  const err = await expectApiError(
    client.chat.completions.create({ model: 'no-such-model-e2e', messages: userTurn('hi'), stream: true }),
    OpenAI.NotFoundError,
    404,
  );
  assert.equal(err.code, 'model_not_found');
});

test('injected upstream 400: BadRequestError', async () => {
  const err = await expectApiError(
    client.chat.completions.create({ model: MODEL, messages: userTurn('please fail [[mock:fail=400]]') }),
    OpenAI.BadRequestError,
    400,
  );
  assert.ok(err.message.length > 0);
});

test('injected upstream 400, streamed: BadRequestError before any chunk', async () => {
  await expectApiError(
    client.chat.completions.create({
      model: MODEL,
      messages: userTurn('please fail [[mock:fail=400]]'),
      stream: true,
    }),
    OpenAI.BadRequestError,
    400,
  );
});

test('wrong API key: AuthenticationError', async () => {
  const wrong = new OpenAI({ baseURL, apiKey: `${apiKey}-wrong`, maxRetries: 0, timeout: 30_000 });
  await expectApiError(
    wrong.chat.completions.create({ model: MODEL, messages: userTurn('hi') }),
    OpenAI.AuthenticationError,
    401,
  );
});

test('raw wire: SSE framing', async () => {
  const response = await fetch(`${baseURL.replace(/\/$/, '')}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({
      model: MODEL,
      messages: userTurn(PROMPT),
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
  const body = await response.text();
  assert.ok(body.endsWith('data: [DONE]\n\n'), `body does not end with the [DONE] event: ${JSON.stringify(body.slice(-80))}`);
  assert.ok(!body.includes('\r'), 'unexpected CR in the stream');

  const events = body.slice(0, -'data: [DONE]\n\n'.length).split('\n\n');
  assert.equal(events.pop(), '', 'the last data event is not terminated by a blank line');
  assert.ok(events.length >= 3);
  let text = '';
  for (const event of events) {
    assert.ok(event.startsWith('data: {'), `malformed event: ${JSON.stringify(event)}`);
    assert.ok(!event.includes('\n'), `event spans several lines: ${JSON.stringify(event)}`);
    const chunk = JSON.parse(event.slice('data: '.length));
    assert.equal(chunk.object, 'chat.completion.chunk');
    for (const ch of chunk.choices) text += ch.delta?.content ?? '';
  }
  assert.equal(text, await nonStreamAnswer());
  assert.equal(body.match(/data: \[DONE\]/g).length, 1);
});

test('raw wire: non-streamed answer is JSON', async () => {
  const response = await fetch(`${baseURL.replace(/\/$/, '')}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ model: MODEL, messages: userTurn(PROMPT) }),
  });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  const body = await response.json();
  assert.equal(body.choices[0].message.content, await nonStreamAnswer());
});

// ---------------------------------------------------------------- embeddings

const EMBED_MODEL = 'text-embedding-3-small';  // the mock's vectors have 1536 dimensions for it
const EMBED_TEXTS = [
  'The quick brown fox jumps over the lazy dog',
  'A quick brown fox jumped over the lazy dogs',
  'Quarterly revenue grew in the third fiscal period',
  'The quick brown fox jumps over the lazy dog',
];

function dot(a, b) {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function assertEmbeddingList(response, count, dimensions) {
  assert.equal(response.object, 'list');
  assert.equal(response.model, EMBED_MODEL);
  assert.equal(response.data.length, count);
  response.data.forEach((item, i) => {
    assert.equal(item.object, 'embedding');
    assert.equal(item.index, i);
    assert.ok(Array.isArray(item.embedding), `embedding ${i} is not an array of numbers`);
    assert.equal(item.embedding.length, dimensions);
    assert.ok(item.embedding.every((x) => typeof x === 'number' && Number.isFinite(x)));
    assert.ok(Math.abs(dot(item.embedding, item.embedding) - 1) < 1e-4, 'not a unit vector');
  });
  assert.ok(response.usage.prompt_tokens > 0);
  assert.equal(response.usage.total_tokens, response.usage.prompt_tokens);
}

// What the SDK asked for on the wire, and what came back.
function recordingClient() {
  const seen = [];
  const recording = new OpenAI({
    baseURL,
    apiKey,
    maxRetries: 0,
    timeout: 30_000,
    fetch: async (url, init) => {
      const response = await fetch(url, init);
      seen.push({ request: JSON.parse(init.body), body: await response.clone().json() });
      return response;
    },
  });
  return { recording, seen };
}

let defaultEmbeddings;
async function embedDefault() {
  if (defaultEmbeddings === undefined) {
    defaultEmbeddings = await client.embeddings.create({ model: EMBED_MODEL, input: EMBED_TEXTS });
  }
  return defaultEmbeddings;
}

test('embeddings: default encoding is base64 on the wire, floats for the caller', async () => {
  const { recording, seen } = recordingClient();
  const response = await recording.embeddings.create({ model: EMBED_MODEL, input: EMBED_TEXTS });
  assert.equal(seen.length, 1);
  assert.equal(seen[0].request.encoding_format, 'base64', 'the SDK asks for base64 by default');
  assert.equal(typeof seen[0].body.data[0].embedding, 'string', 'base64 on the wire');
  assertEmbeddingList(response, EMBED_TEXTS.length, 1536);
  assert.deepEqual(response.data, (await embedDefault()).data);
});

test('embeddings: equal texts give equal vectors, similar ones are closer', async () => {
  const { data } = await embedDefault();
  assert.deepEqual(data[0].embedding, data[3].embedding);
  assert.notDeepEqual(data[0].embedding, data[1].embedding);
  assert.ok(dot(data[0].embedding, data[1].embedding) > dot(data[0].embedding, data[2].embedding));
});

test('embeddings: encoding_format float gives the same vectors', async () => {
  const response = await client.embeddings.create({ model: EMBED_MODEL, input: EMBED_TEXTS, encoding_format: 'float' });
  assertEmbeddingList(response, EMBED_TEXTS.length, 1536);
  const base64 = (await embedDefault()).data;
  response.data.forEach((item, i) => {
    // JSON carries each float32 as its shortest decimal text: it reads back as the same float32.
    assert.deepEqual(item.embedding.map(Math.fround), base64[i].embedding);
  });
  assert.equal(response.usage.prompt_tokens, (await embedDefault()).usage.prompt_tokens);
});

test('embeddings: one string, dimensions, and token ids', async () => {
  const one = await client.embeddings.create({ model: EMBED_MODEL, input: EMBED_TEXTS[0], dimensions: 256 });
  assertEmbeddingList(one, 1, 256);
  const tokens = await client.embeddings.create({ model: EMBED_MODEL, input: [[9906, 1917], [9906, 1917]], dimensions: 64 });
  assertEmbeddingList(tokens, 2, 64);
  assert.deepEqual(tokens.data[0].embedding, tokens.data[1].embedding);
});

test('embeddings: bad input is a BadRequestError naming the parameter', async () => {
  const empty = await expectApiError(
    client.embeddings.create({ model: EMBED_MODEL, input: '' }),
    OpenAI.BadRequestError,
    400,
  );
  assert.equal(empty.param, 'input');
  assert.equal(empty.type, 'invalid_request_error');
  const tooMany = await expectApiError(
    client.embeddings.create({ model: EMBED_MODEL, input: Array.from({ length: 2049 }, () => 'x') }),
    OpenAI.BadRequestError,
    400,
  );
  assert.equal(tooMany.code, 'array_above_max_length');
  const unknown = await expectApiError(
    client.embeddings.create({ model: 'no-such-embedder-e2e', input: 'x' }),
    OpenAI.NotFoundError,
    404,
  );
  assert.equal(unknown.code, 'model_not_found');
});

// ---------------------------------------------------------------------------
// Legacy completions (/v1/completions): editors' autocomplete, fill-in-the-middle.
// The mock completes the prompt itself (directly, or through the openai
// plugin's native /completions); through the claude plugin the completion
// travels as its chat form, and the mock answers that chat.
const COMPLETION_FIM = { prompt: 'def add(a, b):\n    ', suffix: '\n\nprint(add(1, 2))\n', max_tokens: 32 };

function assertCompletionShape(completion) {
  assert.equal(completion.object, 'text_completion');
  assert.ok(completion.id.startsWith('cmpl-'), `id ${completion.id}`);
  assert.equal(completion.model, MODEL);
  assert.equal(typeof completion.created, 'number');
  assert.equal(completion.choices.length, 1);
  assert.equal(completion.choices[0].index, 0);
  assert.equal(completion.choices[0].logprobs, null);
}

// The text the mock puts at the cursor; through a chat-only path, its chat answer.
function assertFimText(text) {
  if (text.startsWith('Mock answer')) return;  // the chat form (through the claude plugin)
  assert.equal(text, 'return a + b');
}

test('completions: non-streamed, with a suffix', async () => {
  const completion = await client.completions.create({ model: MODEL, ...COMPLETION_FIM });
  assertCompletionShape(completion);
  assertFimText(completion.choices[0].text);
  assert.equal(completion.choices[0].finish_reason, 'stop');
  const u = completion.usage;
  assert.ok(u.prompt_tokens > 0 && u.completion_tokens > 0, JSON.stringify(u));
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
});

test('completions: streamed, with a suffix and include_usage: the same text', async () => {
  const whole = await client.completions.create({ model: MODEL, ...COMPLETION_FIM });
  const stream = await client.completions.create({
    model: MODEL,
    ...COMPLETION_FIM,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  const finishes = [];
  let usage;
  let textChunks = 0;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'text_completion');
    assert.equal(chunk.model, MODEL);
    if (chunk.choices.length === 0) {
      assert.equal(usage, undefined, 'one usage chunk');
      usage = chunk.usage;
      continue;
    }
    assert.equal(usage, undefined, 'usage comes last');
    const choice = chunk.choices[0];
    text += choice.text;
    if (choice.finish_reason) finishes.push(choice.finish_reason);
    else textChunks += 1;
  }
  assert.equal(text, whole.choices[0].text);
  assertFimText(text);
  assert.deepEqual(finishes, ['stop']);
  assert.ok(textChunks >= 1);
  assert.ok(usage, 'no usage chunk');
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
});

test('completions: streamed without a suffix and without include_usage', async () => {
  const request = { model: MODEL, prompt: 'Once upon a time', max_tokens: 64 };
  const whole = await client.completions.create(request);
  assertCompletionShape(whole);
  assert.ok(whole.choices[0].text.length > 0);
  const stream = await client.completions.create({ ...request, stream: true });
  let text = '';
  for await (const chunk of stream) {
    assert.ok(chunk.choices.length === 1, 'no usage chunk unless asked');
    text += chunk.choices[0].text;
  }
  assert.equal(text, whole.choices[0].text, 'deterministic: streamed and whole agree');
});

test('completions: more than one prompt: BadRequestError on prompt', async () => {
  const error = await expectApiError(
    client.completions.create({ model: MODEL, prompt: ['one', 'two'] }),
    OpenAI.BadRequestError,
    400,
  );
  assert.equal(error.param, 'prompt');
});

// The official openai package against bn-serve: chat completions whole and
// streamed, a completion, the model list, and an error surfacing as APIError.
// usage: node openai.mjs BASE_URL API_KEY   (prints TAP lines)
import OpenAI from "openai";

const [base, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + "/v1", apiKey, maxRetries: 0, timeout: 60000 });
let n = 0, failed = 0;
const check = (what, cond, detail) => {
  n++;
  if (cond) console.log(`ok ${n} - ${what}`);
  else { failed++; console.log(`not ok ${n} - ${what}${detail ? ": " + detail : ""}`); }
};

const models = await client.models.list();
check("models.list() names the served model", models.data.length === 1 && typeof models.data[0].id === "string");

const messages = [{ role: "user", content: "Tell me about the history of the city." }];
const whole = await client.chat.completions.create({ model: models.data[0].id, messages, max_tokens: 16, temperature: 0 });
const text = whole.choices[0].message.content;
check("chat.completions.create: an assistant message", whole.object === "chat.completion" &&
      whole.choices[0].message.role === "assistant" && typeof text === "string" && text.length > 0, JSON.stringify(whole));
check("chat.completions.create: usage and finish_reason", whole.usage.completion_tokens > 0 &&
      whole.usage.total_tokens === whole.usage.prompt_tokens + whole.usage.completion_tokens &&
      ["stop", "length"].includes(whole.choices[0].finish_reason));

const stream = await client.chat.completions.create({ model: models.data[0].id, messages, max_tokens: 16,
  temperature: 0, stream: true, stream_options: { include_usage: true } });
let streamed = "", chunks = 0, finish = null, usage = null;
for await (const chunk of stream) {
  chunks++;
  const c = chunk.choices[0];
  if (c && c.delta && c.delta.content) streamed += c.delta.content;
  if (c && c.finish_reason) finish = c.finish_reason;
  if (chunk.usage) usage = chunk.usage;
}
check("streamed chat: several chunks", chunks > 2, `${chunks} chunks`);
check("streamed chat: the same text as the whole response (greedy)", streamed === text, JSON.stringify([streamed, text]));
check("streamed chat: finish_reason and usage arrive", finish === whole.choices[0].finish_reason &&
      usage && usage.completion_tokens === whole.usage.completion_tokens);

const cmpl = await client.completions.create({ model: models.data[0].id, prompt: "The history of the", max_tokens: 8, temperature: 0 });
check("completions.create: text and usage", typeof cmpl.choices[0].text === "string" && cmpl.usage.completion_tokens === 8);

try {
  await client.chat.completions.create({ model: "x", messages, max_tokens: "ten" });
  check("a wrong type surfaces as an APIError with status 400", false, "no error");
} catch (e) {
  check("a wrong type surfaces as an APIError with status 400", e instanceof OpenAI.APIError && e.status === 400 &&
        /max_tokens/.test(e.message), String(e));
}
try {
  const bad = new OpenAI({ baseURL: base + "/v1", apiKey: apiKey + "x", maxRetries: 0 });
  await bad.models.list();
  check("a wrong key is AuthenticationError (401)", false, "no error");
} catch (e) {
  check("a wrong key is AuthenticationError (401)", e instanceof OpenAI.AuthenticationError, String(e));
}
process.exit(failed ? 1 : 0);

// graphile-worker side of benches/queue.rs: queues N jobs with one addJobs call,
// then drains them with the configuration of graphile-worker's performance page
// (a local queue, batched completions), each job a POST to the sink. Prints one
// JSON line: {"enqueued_per_s": ..., "delivered_per_s": ...}.
//
// Environment: DATABASE_URL, SINK_URL, REQUESTS, CONCURRENCY.
import http from "node:http";
import { makeWorkerUtils, run } from "graphile-worker";

const connectionString = process.env.DATABASE_URL;
const sink = process.env.SINK_URL;
const requests = Number(process.env.REQUESTS);
const concurrency = Number(process.env.CONCURRENCY);

// Node's own client with keep-alive connections, one per job in flight (its
// `fetch` is several times slower per request, and would measure itself).
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const post = (body) =>
  new Promise((resolve, reject) => {
    const request = http.request(sink, { method: "POST", agent, headers: { "content-type": "application/json" } }, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode));
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end(body);
  });

const utils = await makeWorkerUtils({ connectionString });
await utils.migrate();
const jobs = Array.from({ length: requests }, (_, n) => ({ identifier: "post", payload: { n } }));
let started = process.hrtime.bigint();
await utils.addJobs(jobs);
const enqueued = Number(process.hrtime.bigint() - started) / 1e9;
await utils.release();

let delivered = 0;
let done;
const finished = new Promise((resolve) => (done = resolve));
const taskList = {
  post: async (payload) => {
    const status = await post(JSON.stringify(payload));
    if (status >= 400) throw new Error(`the sink answered ${status}`);
    delivered += 1;
    if (delivered === requests) done();
  },
};
started = process.hrtime.bigint();
const runner = await run({
  noHandleSignals: true,
  taskList,
  logger: undefined,
  preset: {
    worker: {
      connectionString,
      concurrentJobs: concurrency,
      maxPoolSize: concurrency + 1,
      pollInterval: 1000,
      localQueue: { size: 500 },
      completeJobBatchDelay: 0,
      failJobBatchDelay: 0,
    },
  },
});
await finished;
const drained = Number(process.hrtime.bigint() - started) / 1e9;
await runner.stop();
console.log(JSON.stringify({ enqueued_per_s: requests / enqueued, delivered_per_s: requests / drained }));

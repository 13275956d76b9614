"""One load-generator worker: its own event loop over keep-alive connections.

It sends pre-built request bytes, stamps each socket read before parsing it, and decodes a stream only after
the response has ended. Records leave in batches as they are made (`emit`), so a worker holds a few hundred.
"""

import asyncio
import contextlib
import gc
import time
from array import array

import msgspec
import numpy as np

from kitt import cancelling
from kitt.bench import errors, workloads
from kitt.bench.loadplan import EMIT_EVERY, LoadPlan, OnRecords
from kitt.bench.records import MS_STEP, RequestRecord, WorkerStats
from kitt.bench.sketch import Sketch
from kitt.engines import dialects, httpconn

LAG_TICK_S = 0.01
FOLD_EVERY = 4096


class Worker:
    def __init__(self, plan: LoadPlan, worker: int, t0: float, emit: OnRecords) -> None:
        self.plan = plan
        self.emit = emit
        self.worker = worker
        self.t0 = t0
        # When this worker began driving: t0, or later when connecting first overran the start delay on a
        # busy machine. A duration bound counts from here, so a late start still gets its whole window.
        self.began = t0
        self.dialect = dialects.for_engine(
            plan.dialect,
            streams_usage=plan.streams_usage,
            min_tokens=plan.min_tokens,
            chunk_per_token=plan.chunk_per_token,
        )
        self.requests = [
            httpconn.build_request(plan.host, plan.port, "POST", plan.path, body, accept="text/event-stream")
            for body in plan.bodies
        ]
        self.batch: list[RequestRecord] = []
        self.issued = 0
        self.reserved = 0  # turns of chats under way, counted against the request bound before they are sent
        # Measured each tick and each send, folded a batch at a time: a long level keeps no list of them.
        self.lag, self.lag_batch = Sketch(MS_STEP), array("d")
        self.lateness, self.lateness_batch = Sketch(MS_STEP), array("d")
        self.idle: list[httpconn.Connection] = []
        self.open: set[httpconn.Connection] = set()  # closed when the worker ends, however it ends
        self.decoding: asyncio.Queue[tuple[RequestRecord, httpconn.Response]] = asyncio.Queue()
        self.running = True
        self.sessions = 0
        self.budget = errors.Budget(plan.max_error_rate)

    def _claim(self, reserved: bool = False) -> int | None:
        """The next request's index, or None when the level is over (`reserved`: a chat's turn, already
        counted against the request bound by `_reserve`)."""
        plan = self.plan
        if cancelling.requested():  # a cancellation lost on the way (kitt/cancelling.py) still ends the level
            return None
        if self.budget.blown:  # the server is failing: a longer level would only measure that
            return None
        budget = self._budget()
        if not reserved and budget is not None and self.issued + self.reserved >= budget:
            return None
        if plan.max_duration_s is not None and time.perf_counter() - self.began >= plan.max_duration_s:
            return None
        self.issued += 1
        return self.issued - 1

    def _budget(self) -> int | None:
        plan = self.plan
        return None if plan.max_requests is None else plan.max_requests + plan.warmup_requests

    def _reserve(self, turns: int) -> int:
        """Requests for a whole chat, counted at its start: a level bounded by requests runs whole chats
        (sessions x turns requests are that many complete chats), not whichever turns a busy slot got to."""
        budget = self._budget()
        took = turns if budget is None else max(0, min(turns, budget - self.issued - self.reserved))
        self.reserved += took
        return took

    async def _connection(self) -> httpconn.Connection:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn
        return await self._fresh()

    async def _fresh(self) -> httpconn.Connection:
        conn = await httpconn.Connection.open(self.plan.host, self.plan.port)
        self.open.add(conn)
        return conn

    async def _one(self, index: int, scheduled: float | None) -> None:
        number = index * self.plan.stride + self.worker  # unique across workers; picks the prompt
        record, response = await self._exchange(index, scheduled, self.requests[number % len(self.requests)])
        if response is not None:
            self.decoding.put_nowait((record, response))

    async def _exchange(
        self, index: int, scheduled: float | None, request: bytes
    ) -> tuple[RequestRecord, httpconn.Response | None]:
        """Send one request; a failure before any response is kept as a failed record right away."""
        number = index * self.plan.stride + self.worker
        record = RequestRecord(index=number, worker=self.worker, start=0.0, scheduled=scheduled)
        record.warmup = index < self.plan.warmup_requests
        for attempt in range(2):
            try:
                conn = await (self._connection() if attempt == 0 else self._fresh())
            except httpconn.HttpError as exc:
                record.start = time.perf_counter() - self.t0
                record.error = str(exc)
                self._keep(record)
                return record, None
            future = conn.request(request)
            record.start = conn.sent_at - self.t0
            try:
                async with asyncio.timeout(self.plan.request_timeout_s):  # not wait_for: kitt/cancelling.py
                    response = await future
            except TimeoutError:
                conn.close()
                record.end = time.perf_counter() - self.t0 - record.start
                record.error = f"no complete response within {self.plan.request_timeout_s:g}s"
                self._keep(record)
                return record, None
            # A kept-alive connection the server had just closed: nothing was processed, so send again
            # on a new connection (as HTTP clients do for idle connections); a second failure counts.
            if response.status or not conn.reused:
                break
        if not conn.closed:
            self.idle.append(conn)
        return record, response

    async def _session(self) -> None:
        """Chats one after another in this slot: each turn's prompt holds the whole chat so far."""
        while turns := self._reserve(self.plan.turns):
            if not await self._chat(turns):
                return

    async def _chat(self, turns: int) -> bool:
        """One chat of up to `turns` reserved turns; False when the level ended during it. Its reservation
        is settled when it returns (turns sent are counted as issued, the rest given back)."""
        plan, template = self.plan, self.plan.template
        assert template is not None
        self.sessions += 1
        session, history, sent = self.sessions * self.plan.stride + self.worker, "", 0
        try:
            for turn in range(turns):
                index = self._claim(reserved=True)
                if index is None:
                    return False
                self.reserved, sent = self.reserved - 1, sent + 1
                user = plan.turn_prompts[(session * plan.turns + turn) % len(plan.turn_prompts)]
                prompt = workloads.turn_prompt(history, user)
                body = self.dialect.body(msgspec.structs.replace(template, prompt=prompt))
                request = httpconn.build_request(
                    plan.host, plan.port, "POST", plan.path, body, accept="text/event-stream"
                )
                record, response = await self._exchange(index, None, request)
                record.session, record.turn = session, turn
                if response is None:
                    return True  # the chat cannot go on without its answer
                text = self._finish(record, response)
                if record.error is not None:
                    return True
                history = f"{prompt}{text}\n"
                if plan.think_time_s:
                    await asyncio.sleep(plan.think_time_s)
            return True
        finally:
            self.reserved -= turns - sent

    def _keep(self, record: RequestRecord) -> None:
        if not record.warmup:
            self.budget.count(record.error is not None)
        self.batch.append(record)
        if len(self.batch) >= EMIT_EVERY:
            self._flush()

    def _flush(self) -> None:
        if self.batch:
            batch, self.batch = self.batch, []
            self.emit(batch)

    async def _decode(self) -> None:
        """Decode finished responses one at a time, yielding between them.

        Streams that end together (they often do) would otherwise be decoded in one burst that delays
        every socket read behind it, and so every timestamp.
        """
        while True:
            record, response = await self.decoding.get()
            self._finish(record, response)
            self.decoding.task_done()
            await asyncio.sleep(0)

    def _finish(self, record: RequestRecord, response: httpconn.Response) -> str:
        """Fill the record from the ended response, keep it, and return the generated text."""
        generation = dialects.decode_stream(self.dialect, response)
        sent = response.sent_at
        record.chunk_offsets = [t - sent for t in generation.chunk_times]
        record.end = response.ended_at - sent
        record.output_tokens = generation.output_tokens
        record.prompt_tokens = generation.prompt_tokens
        record.token_source = generation.token_source
        record.error = generation.error
        if record.error is None and not record.chunk_offsets:
            record.error = "the response carried no tokens"
        self._keep(record)
        return generation.text

    async def _slot(self) -> None:
        while (index := self._claim()) is not None:
            await self._one(index, None)

    async def _schedule(self) -> None:
        tasks = set()
        plan = self.plan
        shared = plan.schedule.share(self.worker, plan.stride) if plan.schedule is not None else None
        for index, due in shared if shared is not None else enumerate(plan.arrivals):
            if self.plan.max_duration_s is not None and due >= self.plan.max_duration_s:
                break
            if self.budget.blown:
                break
            delay = self.t0 + due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            self.lateness_batch.append(max(0.0, (time.perf_counter() - self.t0 - due) * 1000))
            if len(self.lateness_batch) >= FOLD_EVERY:
                self._fold(self.lateness, self.lateness_batch)
            task = asyncio.create_task(self._one(index, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)

    async def _watch_loop(self) -> None:
        while self.running:
            before = time.perf_counter()
            await asyncio.sleep(LAG_TICK_S)
            self.lag_batch.append(max(0.0, (time.perf_counter() - before - LAG_TICK_S) * 1000))
            if len(self.lag_batch) >= FOLD_EVERY:
                self._fold(self.lag, self.lag_batch)

    @staticmethod
    def _fold(sketch: Sketch, batch: "array[float]") -> None:
        sketch.add(np.frombuffer(batch, dtype=np.float64).copy())
        del batch[:]

    async def _drive(self) -> None:
        watcher = asyncio.create_task(self._watch_loop())
        decoder = asyncio.create_task(self._decode())
        try:
            if self.plan.mode == "rate":
                await self._schedule()
            elif self.plan.mode == "sessions":
                await asyncio.gather(*(self._session() for _ in range(self.plan.concurrency)))
            else:
                await asyncio.gather(*(self._slot() for _ in range(self.plan.concurrency)))
            self.running = False
            await watcher
            await self.decoding.join()
        finally:
            self.running = False
            watcher.cancel()
            decoder.cancel()

    async def _preconnect(self) -> None:
        # Fixed concurrency: every slot's connection is open before t0, so no first request pays for it.
        async def one() -> None:
            with contextlib.suppress(httpconn.HttpError):
                conn = await self._fresh()
                conn.preopened = True
                self.idle.append(conn)

        await asyncio.gather(*(one() for _ in range(self.plan.concurrency)))

    async def run(self) -> WorkerStats:
        try:
            if self.plan.mode != "rate":  # every slot connected before t0
                await self._preconnect()
            # A full collection over the thousands of objects alive now (a whole test session, an API)
            # pauses the loop for tens of ms, which would show up as latency or as requests sent late:
            # collect, then freeze them out of later collections. The collector keeps running on what
            # the level makes, so a long level's cyclic garbage is freed (disabling it leaked ~200 bytes a
            # request, 50 MiB in 10 minutes at 500 req/s).
            gc.collect()
            gc.freeze()
            delay = self.t0 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            self.began = max(self.t0, wall0)
            await self._drive()
        finally:
            gc.unfreeze()
            for conn in self.open:  # cancelled or not, leave no connection to the engine behind
                conn.close()
        self._flush()
        self._fold(self.lag, self.lag_batch)
        self._fold(self.lateness, self.lateness_batch)
        return WorkerStats(
            worker=self.worker,
            cpu_s=time.process_time() - cpu0,
            wall_s=time.perf_counter() - wall0,
            loop_lag_ms=self.lag.state(),
            lateness_ms=self.lateness.state(),
            stopped_for_errors=self.budget.blown,
        )

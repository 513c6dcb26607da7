// The Kotlin layer over the generated bindings: Cairn(config) is what an app holds.
//
// Rules:
// - every call checks its arguments on the caller's thread (an empty name, a NaN, an
//   unsupported value type, a SeedEvent number out of range throw CairnException at the
//   call), then puts the work on an in-memory queue and returns: nothing else runs on
//   the caller's thread, not even the crossing into the library (the SeedEvent ranges
//   are checked in Kotlin, by code generated from the event table);
// - one thread, `cairn-handoff`, takes the work in order and hands it to the library
//   (consecutive track calls in one crossing, `Tracker.trackMany`; consecutive
//   trackEvent calls likewise, `Tracker.trackEvents`), whose dispatcher thread stores
//   it; uploads run on the library's `cairn-uploader` thread through `uploader`
//   (HttpURLConnection by default);
// - the queue holds at most MAX_PENDING calls; past it a call throws
//   CairnException.Busy (the caller is never blocked);
// - an error found after the call returned goes to `onError` (and `lastError()`);
// - reads (`consent`, `anonymousId`, `queued`) and waits (`flushAwait`, `shutdown`)
//   first wait for the calls before them: never on the UI thread.
package dev.cairn

import java.util.concurrent.CompletableFuture
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext

class Cairn @JvmOverloads constructor(
    config: TrackerConfig,
    uploader: HttpUploader = HttpUrlUploader(),
) : AutoCloseable {
    private sealed class Op
    private class TrackOp(val call: TrackCall) : Op()
    private class TrackEventOp(val call: TrackEventCall) : Op()
    private class RunOp(val action: (Tracker) -> Unit) : Op()
    private object StopOp : Op()

    private val tracker = Tracker(config, uploader)
    private val queue = LinkedBlockingQueue<Op>(MAX_PENDING)
    private val worker = Thread(::handOff, "cairn-handoff").apply {
        isDaemon = true
        start()
    }

    @Volatile private var lastHandOffError: Exception? = null

    /** Told about every error found after its call returned (on `cairn-handoff`). */
    @Volatile var onError: ((Exception) -> Unit)? = null

    fun track(event: String, properties: Map<String, Any?> = emptyMap(), purpose: Purpose? = null) {
        named(event)
        val json = CairnJson.encode("properties", properties)
        put(TrackOp(TrackCall(event, json, purpose)))
    }

    fun trackEvent(event: SeedEvent, properties: Map<String, Any?> = emptyMap(), purpose: Purpose? = null) {
        checkSeedEventRanges(event) // in Kotlin (SeedEventChecks.kt): no crossing on this thread
        val json = CairnJson.encode("properties", properties)
        put(TrackEventOp(TrackEventCall(event, json, purpose)))
    }

    fun screen(name: String, properties: Map<String, Any?> = emptyMap()) {
        val json = CairnJson.encode("properties", properties)
        put(RunOp { it.screen(name, json) })
    }

    fun identify(userId: String, traits: Map<String, Any?> = emptyMap()) {
        named(userId)
        val json = CairnJson.encode("traits", traits)
        put(RunOp { it.identify(userId, json) })
    }

    fun alias(newUserId: String) {
        named(newUserId)
        put(RunOp { it.alias(newUserId) })
    }

    fun group(groupId: String, traits: Map<String, Any?> = emptyMap()) {
        named(groupId)
        val json = CairnJson.encode("traits", traits)
        put(RunOp { it.group(groupId, json) })
    }

    fun reset() = put(RunOp { it.reset() })
    fun setConsent(consent: ConsentState) = put(RunOp { it.setConsent(consent) })
    fun flush() = put(RunOp { it.flush() })

    /** ProcessLifecycleOwner ON_START: app_opened (a stale session rotates). */
    fun onForeground() = put(RunOp { it.onForeground() })

    /** ProcessLifecycleOwner ON_STOP: app_backgrounded, fsync and upload (off this thread). */
    fun onBackground() = put(RunOp { it.onBackground() })

    fun consent(): ConsentState = read { it.consent() }
    fun anonymousId(): String = read { it.anonymousId() }
    fun queued(): Long = read { it.queued() }

    /** The last error of a call that had returned, or of an upload attempt. */
    fun lastError(): String? = lastHandOffError?.message ?: tracker.lastError()

    /** Uploads everything tracked before this call and waits: see Tracker.flushAndWait. */
    suspend fun flushAwait(timeoutMs: Long) = withContext(Dispatchers.IO) { flushAndWait(timeoutMs) }

    /** Blocking flushAwait, for Java and for threads that may block. */
    fun flushAndWait(timeoutMs: Long) {
        drain()
        tracker.flushAndWait(timeoutMs)
    }

    /** Uploads what it can within timeoutMs, then stops; the rest stays on disk. */
    suspend fun shutdown(timeoutMs: Long) = withContext(Dispatchers.IO) {
        try {
            drain()
            tracker.shutdown(timeoutMs)
        } finally {
            close()
        }
    }

    /** Hands over what is queued, stops the threads, makes the queue durable. */
    override fun close() {
        if (worker.isAlive) {
            queue.put(StopOp)
            worker.join()
        }
        tracker.close()
    }

    private fun named(name: String) {
        if (name.isBlank()) throw CairnException.EmptyName("event name or id is empty")
    }

    private fun put(op: Op) {
        if (!worker.isAlive) throw CairnException.Stopped("tracker stopped: closed")
        if (!queue.offer(op)) throw CairnException.Busy("too many calls waiting for the tracker's thread ($MAX_PENDING); this one was dropped")
    }

    /** Waits until everything queued before this call has reached the library. */
    private fun drain() = read { }

    private fun <T> read(f: (Tracker) -> T): T {
        val answer = CompletableFuture<T>()
        if (!worker.isAlive) throw CairnException.Stopped("tracker stopped: closed")
        // The answer (or the read's own exception) goes back to this caller.
        queue.put(RunOp {
            try {
                answer.complete(f(it))
            } catch (e: Throwable) {
                answer.completeExceptionally(e)
            }
        })
        try {
            return answer.get()
        } catch (e: java.util.concurrent.ExecutionException) {
            throw e.cause ?: e
        }
    }

    // Rule: at most one of the two batches is non-empty, so the library gets every
    // call in the order it was made (a batch is sent before any other kind of call).
    private fun handOff() {
        val batch = ArrayList<TrackCall>()
        val typed = ArrayList<TrackEventCall>()
        while (true) {
            var next: Op? = queue.take()
            while (next != null) {
                when (val op: Op = next) {
                    is TrackOp -> {
                        sendTyped(typed)
                        batch.add(op.call)
                        if (batch.size >= MAX_BATCH) send(batch)
                    }
                    is TrackEventOp -> {
                        send(batch)
                        typed.add(op.call)
                        if (typed.size >= MAX_BATCH) sendTyped(typed)
                    }
                    is RunOp -> {
                        send(batch)
                        sendTyped(typed)
                        guarded { op.action(tracker) }
                    }
                    StopOp -> {
                        send(batch)
                        sendTyped(typed)
                        return
                    }
                }
                next = queue.poll()
            }
            send(batch)
            sendTyped(typed)
        }
    }

    private fun send(batch: ArrayList<TrackCall>) {
        if (batch.isEmpty()) return
        val calls = ArrayList(batch)
        batch.clear()
        guarded { tracker.trackMany(calls) }
    }

    private fun sendTyped(batch: ArrayList<TrackEventCall>) {
        if (batch.isEmpty()) return
        val calls = ArrayList(batch)
        batch.clear()
        guarded { tracker.trackEvents(calls) }
    }

    private fun guarded(f: () -> Unit) {
        try {
            f()
        } catch (e: Exception) {
            lastHandOffError = e
            onError?.invoke(e)
        }
    }

    companion object {
        /** Calls waiting for the hand-off thread at most. */
        const val MAX_PENDING = 10_000
        /** `track` (or `trackEvent`) calls handed over in one crossing at most. */
        const val MAX_BATCH = 500
    }
}

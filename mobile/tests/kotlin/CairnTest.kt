// The Kotlin side of mobile/tests/foreign.rs: one program, compiled once per test run
// (kotlinc is slow) with the generated bindings and the written layer
// (mobile/kotlin/dev/cairn: Cairn, HttpUrlUploader), whose first argument picks the
// scenario. It talks to a real collector started by the Rust test (directly, or
// through the test's TLS-terminating proxy) and prints `KEY value` lines.
//
//   hashed  <endpoint> <dataDir> <hashKey>   identify + events (maps), bad values, flushAwait
//   consent <endpoint> <dataDir>             revoking analytics purges the queue
//   crash1  <endpoint> <dataDir> <sent> <left>  delivers `sent` events, tracks `left` more,
//                                            prints TRACKED, then idles until SIGKILL
//   crash2  <endpoint> <dataDir>             a new process on the same dataDir delivers the rest
//   count   <endpoint> <dataDir>             what a new process finds queued, its consent
//   roundtrip <endpoint> <dataDir>           every SeedEvent variant (Samples.kt, generated)
//   https   <endpoint> <dataDir> <n>         n events over HTTPS; flushes until delivered,
//                                            printing each failed attempt
//   threads <endpoint> <dataDir>             the uploader is held: every call returns anyway;
//                                            prints the threads that stored and uploaded
//   wrongkey <endpoint> <dataDir> <writeKey> an event with a key the collector refuses:
//                                            prints the flush error, lastError, what is queued
//   syscalls <endpoint> <dataDir>            every call of the layer from this thread, run
//                                            under strace by the test: prints this thread's
//                                            id and every live thread's id and name
//   ranges                                   the layer's SeedEvent range checks (Kotlin) and
//                                            the library's (checkSeedEvent) agree on every
//                                            sample and every out-of-range value
//   order   <endpoint> <dataDir>             runs of track, trackEvent and screen calls (the
//                                            hand-off's two batches and a call between them),
//                                            one trackEvent too large inside a run; prints
//                                            the count and lastError

import dev.cairn.*
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.runBlocking
import kotlin.system.exitProcess

fun check(cond: Boolean, what: String) {
    if (!cond) {
        System.err.println("CHECK FAILED: $what")
        exitProcess(3)
    }
}

fun config(endpoint: String, dataDir: String, hashKey: String = "device-hash-key") = TrackerConfig(
    writeKey = "test-write-key",
    endpoint = endpoint,
    dataDir = dataDir,
    hashKey = hashKey,
    context = DeviceContext(
        appName = "Kotlin test",
        appVersion = "1.0",
        deviceType = "mobile",
        osName = "JVM",
        osVersion = System.getProperty("java.version"),
        locale = "fr-FR",
        timezone = "Europe/Paris",
    ),
)

inline fun <reified E : Exception> expectThrows(what: String, key: String, f: () -> Unit) {
    try {
        f()
    } catch (e: Exception) {
        check(e is E, "$what threw ${e.javaClass.name}: ${e.message}")
        println("$key ${e.message}")
        return
    }
    check(false, "$what must throw")
}

fun hashed(endpoint: String, dataDir: String, hashKey: String) {
    Cairn(config(endpoint, dataDir, hashKey)).use { t ->
        // Opt-in by default: nothing is kept before consent.
        t.track("before_consent")
        check(t.queued() == 0L, "opt-in by default: nothing queued before consent")
        t.setConsent(ConsentState(analytics = true))
        check(t.consent() == ConsentState(analytics = true), "consent reads back")
        t.identify("user-42", mapOf("email" to "  Alice@Example.COM ", "phone" to "+33 6 12 34 56 78", "plan" to "pro"))
        t.track("kotlin_custom", mapOf("n" to 1, "nested" to mapOf("ok" to true), "list" to listOf(1, "two", null, 2.5)))
        t.trackEvent(SeedEvent.AddToCart(productId = "sku-1", quantity = 2), mapOf("price" to 9.5))
        t.screen("Home")
        // Bad values throw at the call, with the path of the value.
        expectThrows<CairnException.InvalidArgument>("a NaN", "ERROR_NAN") {
            t.track("bad", mapOf("price" to Double.NaN))
        }
        expectThrows<CairnException.InvalidArgument>("an unsupported type", "ERROR_TYPE") {
            t.track("bad", mapOf("items" to listOf(mapOf("at" to java.util.Date(0)))))
        }
        expectThrows<CairnException.EmptyName>("an empty name", "ERROR_EMPTY") { t.track(" ") }
        expectThrows<CairnException.InvalidArgument>("a negative quantity", "ERROR_ARG") {
            t.trackEvent(SeedEvent.AddToCart(productId = "sku-1", quantity = -1))
        }
        println("ANONYMOUS_ID ${t.anonymousId()}")
        runBlocking { t.flushAwait(20_000) }
        check(t.queued() == 0L, "queue empty after flushAwait")
        check(t.lastError() == null, "no error after the call: ${t.lastError()}")
        println("DONE")
    }
}

fun consent(endpoint: String, dataDir: String) {
    // flushAt/flushInterval high: the events stay queued until the revocation.
    val cfg = config(endpoint, dataDir).copy(flushAt = 1000, flushIntervalMs = 600_000)
    Cairn(cfg).use { t ->
        t.setConsent(ConsentState(analytics = true, personalization = true))
        for (i in 0 until 5) t.track("analytics_$i")
        t.trackEvent(SeedEvent.HideItem(productId = "sku-9"), purpose = Purpose.PERSONALIZATION)
        println("QUEUED_BEFORE ${t.queued()}")
        t.setConsent(ConsentState(analytics = false, personalization = true))
        println("QUEUED_AFTER ${t.queued()}")
        t.track("after_revoke")
        t.trackEvent(SeedEvent.Click(target = "buy"))
        println("QUEUED_AFTER_REFUSED ${t.queued()}")
        runBlocking { t.flushAwait(20_000) }
        check(t.queued() == 0L, "queue empty after flushAwait")
        println("DONE")
    }
}

fun crash1(endpoint: String, dataDir: String, sent: Int, left: Int) {
    // The first `sent` events are delivered (flushAwait); the last `left` stay below
    // flushAt and inside the 10 s flush interval, so they are only on the device
    // when the test kills this process.
    val t = Cairn(config(endpoint, dataDir).copy(flushAt = 10))
    t.setConsent(ConsentState(analytics = true))
    for (i in 0 until sent) t.track("crash_event", mapOf("seq" to i))
    runBlocking { t.flushAwait(20_000) }
    for (i in sent until sent + left) t.track("crash_event", mapOf("seq" to i))
    println("TRACKED ${sent + left}")
    System.out.flush()
    Thread.sleep(600_000) // killed by the test long before this ends
}

fun crash2(endpoint: String, dataDir: String) {
    Cairn(config(endpoint, dataDir)).use { t ->
        println("CONSENT ${t.consent().analytics}")
        println("QUEUED_AT_START ${t.queued()}")
        runBlocking { t.flushAwait(20_000) }
        println("QUEUED_AFTER ${t.queued()}")
        println("DONE")
    }
}

fun count(endpoint: String, dataDir: String) {
    // flushAt/flushInterval high: this process only looks.
    Cairn(config(endpoint, dataDir).copy(flushAt = 1000, flushIntervalMs = 600_000)).use { t ->
        println("QUEUED ${t.queued()}")
        println("ANALYTICS ${t.consent().analytics}")
        println("PERSONALIZATION ${t.consent().personalization}")
        println("DONE")
    }
}

fun roundtrip(endpoint: String, dataDir: String) {
    Cairn(config(endpoint, dataDir)).use { t ->
        t.setConsent(ConsentState(analytics = true, personalization = true, marketing = true))
        val events = sampleSeedEvents()
        for (e in events) t.trackEvent(e)
        check(t.queued() == events.size.toLong() + 1, "all queued, with the consent record")
        runBlocking { t.flushAwait(20_000) }
        println("TRACKED ${events.size}")
        println("ANONYMOUS_ID ${t.anonymousId()}")
        println("DONE")
    }
}

fun https(endpoint: String, dataDir: String, n: Int) {
    // flushAt above n: the events go in one batch when flushed (413 then halves it).
    Cairn(config(endpoint, dataDir).copy(flushAt = 1000, requestTimeoutMs = 5_000)).use { t ->
        t.setConsent(ConsentState(analytics = true))
        for (i in 0 until n) t.track("https_event", mapOf("seq" to i, "cart" to mapOf("items" to listOf(i, i + 1))))
        var failures = 0
        while (true) {
            try {
                runBlocking { t.flushAwait(30_000) }
                break
            } catch (e: CairnException.Upload) {
                failures++
                println("FLUSH_FAILED ${e.message}")
                check(failures < 10, "delivered within 10 attempts")
            }
        }
        check(t.queued() == 0L, "queue empty")
        println("DONE")
    }
}

/** Holds each upload until released, noting the thread it runs on (a test stand-in). */
class HeldUploader(private val inner: HttpUploader) : HttpUploader {
    val release = CountDownLatch(1)
    val entered = CountDownLatch(1)
    @Volatile var thread: String? = null
    override fun upload(request: UploadRequest): UploadResult {
        thread = Thread.currentThread().name
        entered.countDown()
        release.await(60, TimeUnit.SECONDS)
        return inner.upload(request)
    }
}

fun threads(endpoint: String, dataDir: String) {
    val uploader = HeldUploader(HttpUrlUploader())
    Cairn(config(endpoint, dataDir).copy(flushAt = 1), uploader).use { t ->
        t.setConsent(ConsentState(analytics = true)) // its record starts an upload
        check(uploader.entered.await(30, TimeUnit.SECONDS), "an upload started")
        // The upload is held in the uploader: every call below must still return.
        t.track("while_held", mapOf("n" to 1))
        t.onBackground()
        t.setConsent(ConsentState(analytics = true, personalization = true))
        t.flush()
        t.onForeground()
        println("CALLS_RETURNED_WHILE_UPLOAD_HELD true")
        println("CALLER_THREAD ${Thread.currentThread().name}")
        println("UPLOAD_THREAD ${uploader.thread}")
        uploader.release.countDown()
        runBlocking { t.flushAwait(30_000) }
        check(t.queued() == 0L, "queue empty")
        println("DONE")
    }
}

fun wrongkey(endpoint: String, dataDir: String, writeKey: String) {
    Cairn(config(endpoint, dataDir).copy(writeKey = writeKey)).use { t ->
        t.setConsent(ConsentState(analytics = true))
        t.track("kotlin_wrong_key", mapOf("n" to 1))
        val error = try {
            runBlocking { t.flushAwait(20_000) }
            null
        } catch (e: CairnException) {
            e.message
        }
        println("FLUSH_ERROR $error")
        println("LAST_ERROR ${t.lastError()}")
        println("QUEUED ${t.queued()}")
        println("DONE")
    }
}

/** The kernel's id of the calling thread (what strace prints). */
fun threadId(): String =
    java.nio.file.Files.readSymbolicLink(java.nio.file.Paths.get("/proc/thread-self")).fileName.toString()

fun syscalls(endpoint: String, dataDir: String) {
    println("CALLER_TID ${threadId()}")
    val started = System.nanoTime()
    val t = Cairn(config(endpoint, dataDir).copy(flushAt = 1))
    // Every call of the layer, on this thread (the app's): the writes, the syncs
    // (onBackground, a consent change with its purge) and the uploads (flushAt 1, flush).
    t.setConsent(ConsentState(analytics = true, personalization = true))
    t.onForeground()
    t.identify("user-42", mapOf("email" to "a@b.com"))
    t.track("syscalls_custom", mapOf("n" to 1))
    t.trackEvent(SeedEvent.AddToCart(productId = "sku-1", quantity = 1))
    t.trackEvent(SeedEvent.HideItem(productId = "sku-9"), purpose = Purpose.PERSONALIZATION)
    t.screen("Home")
    t.alias("user-43")
    t.group("acme")
    t.onBackground()
    t.flush()
    t.setConsent(ConsentState(analytics = true)) // revokes personalization: purge and sync
    t.reset()
    t.onForeground()
    println("CALLS_RETURNED_NS ${System.nanoTime() - started}")
    // Reads and waits block this thread until the work is done elsewhere.
    println("QUEUED ${t.queued()}")
    println("ANALYTICS ${t.consent().analytics}")
    println("ANONYMOUS_ID ${t.anonymousId()}")
    t.flushAndWait(30_000)
    runBlocking { t.flushAwait(30_000) }
    check(t.lastError() == null, "no error: ${t.lastError()}")
    // Every live thread (the library's are joined by close, so list them now).
    val threads = java.nio.file.Files.newDirectoryStream(java.nio.file.Paths.get("/proc/self/task")).use { ds ->
        ds.map { "${it.fileName}:${java.nio.file.Files.readString(it.resolve("comm")).trim()}" }
    }
    println("THREADS ${threads.joinToString(";")}")
    t.close() // waits on this thread while the dispatcher makes the queue durable
    println("DONE")
}

/** The message of the InvalidArgument `f` throws, null when it returns; anything else fails. */
fun refusal(what: String, f: () -> Unit): String? {
    try {
        f()
    } catch (e: CairnException.InvalidArgument) {
        return e.message
    } catch (e: Exception) {
        check(false, "$what threw ${e.javaClass.name}: ${e.message}")
    }
    return null
}

fun ranges() {
    for (e in sampleSeedEvents()) {
        check(refusal("Kotlin check of $e") { checkSeedEventRanges(e) } == null, "Kotlin accepts $e")
        check(refusal("library check of $e") { checkSeedEvent(e) } == null, "the library accepts $e")
    }
    val bad = badSeedEvents()
    for (e in bad) {
        val kotlin = refusal("Kotlin check of $e") { checkSeedEventRanges(e) }
        val library = refusal("library check of $e") { checkSeedEvent(e) }
        check(kotlin != null, "Kotlin refuses $e")
        check(kotlin == library, "same refusal for $e: Kotlin `$kotlin`, library `$library`")
    }
    println("GOOD ${sampleSeedEvents().size}")
    println("BAD ${bad.size}")
    println("EXAMPLE ${refusal("") { checkSeedEventRanges(bad.first()) }}")
    println("DONE")
}

fun order(endpoint: String, dataDir: String) {
    // flushAt and flushInterval out of reach: one upload at the end, in stored order.
    Cairn(config(endpoint, dataDir).copy(flushAt = 1000, flushIntervalMs = 600_000)).use { t ->
        t.setConsent(ConsentState(analytics = true))
        var seq = 0
        // Runs of 1 to 4 calls of each kind, a screen (neither batch) every third round.
        // The caller is far faster than the hand-off thread's crossings, so the calls
        // pile up and cairn-handoff meets them mixed in one drain of its queue.
        for (round in 0 until 12) {
            repeat(1 + round % 4) { t.track("order_custom", mapOf("seq" to seq++)) }
            repeat(1 + (round + 1) % 4) { i ->
                t.trackEvent(SeedEvent.Click(target = "buy"), mapOf("seq" to seq++))
                // Refused by the library (over 32 KB) inside a run of trackEvent calls:
                // the events before and after it in the same crossing are still stored.
                if (round == 6 && i == 0) t.trackEvent(SeedEvent.Click(target = "x".repeat(40_000)))
            }
            if (round % 3 == 0) t.screen("Order", mapOf("seq" to seq++))
        }
        runBlocking { t.flushAwait(20_000) }
        check(t.queued() == 0L, "queue empty after flushAwait")
        println("TRACKED $seq")
        println("LAST_ERROR ${t.lastError()}")
        println("DONE")
    }
}

fun main(args: Array<String>) {
    when (args.getOrNull(0)) {
        "hashed" -> hashed(args[1], args[2], args[3])
        "consent" -> consent(args[1], args[2])
        "crash1" -> crash1(args[1], args[2], args[3].toInt(), args[4].toInt())
        "crash2" -> crash2(args[1], args[2])
        "count" -> count(args[1], args[2])
        "roundtrip" -> roundtrip(args[1], args[2])
        "https" -> https(args[1], args[2], args[3].toInt())
        "threads" -> threads(args[1], args[2])
        "wrongkey" -> wrongkey(args[1], args[2], args[3])
        "ranges" -> ranges()
        "syscalls" -> syscalls(args[1], args[2])
        "order" -> order(args[1], args[2])
        else -> {
            System.err.println("usage: CairnTest hashed|consent|crash1|crash2|count|roundtrip|https|threads|wrongkey|syscalls|order <endpoint> <dataDir> ... | ranges")
            exitProcess(2)
        }
    }
    // The JVM would wait for non-daemon threads; the SDK's threads are Rust's own, so exit now.
    exitProcess(0)
}

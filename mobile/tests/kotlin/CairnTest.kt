// The Kotlin side of mobile/tests/foreign.rs: one program, compiled once per test run
// (kotlinc is slow), whose first argument picks the scenario. It talks to a real
// collector started by the Rust test and prints `KEY value` lines the test reads.
//
//   hashed  <endpoint> <dataDir> <hashKey>   identify + events, flushAwait
//   consent <endpoint> <dataDir>             revoking analytics purges the queue
//   crash1  <endpoint> <dataDir> <sent> <left>  delivers `sent` events, tracks `left` more,
//                                            prints TRACKED, then idles
//                                            until the test kills it with SIGKILL
//   crash2  <endpoint> <dataDir>             a new process on the same dataDir delivers the rest
//   count   <endpoint> <dataDir>             prints what a new process finds queued and its
//                                            consent, uploads nothing
//   roundtrip <endpoint> <dataDir>           every SeedEvent variant (Samples.kt, generated)
//                                            with its sample values, flushAwait

import dev.cairn.*
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

fun hashed(endpoint: String, dataDir: String, hashKey: String) {
    Tracker(config(endpoint, dataDir, hashKey)).use { t ->
        // Opt-in by default: nothing is kept before consent.
        check(t.track("before_consent") == TrackResult.NO_CONSENT, "opt-in by default")
        t.setConsent(ConsentState(analytics = true))
        check(t.consent() == ConsentState(analytics = true), "consent reads back")
        t.identify("user-42", """{"email":"  Alice@Example.COM ","phone":"+33 6 12 34 56 78","plan":"pro"}""")
        t.track("kotlin_custom", """{"n":1,"nested":{"ok":true}}""")
        t.trackEvent(SeedEvent.AddToCart(productId = "sku-1", quantity = 2), """{"price":9.5}""")
        t.screen("Home")
        // The typed error for bad input, with a readable message.
        try {
            t.track("bad", "[1,2]")
            check(false, "a JSON array as properties must throw")
        } catch (e: CairnException.NotAnObject) {
            println("ERROR ${e.message}")
        }
        try {
            t.trackEvent(SeedEvent.AddToCart(productId = "sku-1", quantity = -1))
            check(false, "a negative quantity must throw")
        } catch (e: CairnException.InvalidArgument) {
            println("ERROR_ARG ${e.message}")
        }
        println("ANONYMOUS_ID ${t.anonymousId()}")
        runBlocking { t.flushAwait(20_000) }
        check(t.queued() == 0L, "queue empty after flushAwait")
        println("DONE")
    }
}

fun consent(endpoint: String, dataDir: String) {
    // flushAt/flushInterval high: the events stay queued until the revocation.
    val cfg = config(endpoint, dataDir).copy(flushAt = 1000, flushIntervalMs = 600_000)
    Tracker(cfg).use { t ->
        t.setConsent(ConsentState(analytics = true, personalization = true))
        for (i in 0 until 5) {
            check(t.track("analytics_$i") == TrackResult.QUEUED, "queued")
        }
        t.trackEvent(SeedEvent.HideItem(productId = "sku-9"), purpose = Purpose.PERSONALIZATION)
        println("QUEUED_BEFORE ${t.queued()}")
        t.setConsent(ConsentState(analytics = false, personalization = true))
        println("QUEUED_AFTER ${t.queued()}")
        check(t.track("after_revoke") == TrackResult.NO_CONSENT, "analytics refused after revoke")
        check(t.trackEvent(SeedEvent.Click(target = "buy")) == TrackResult.NO_CONSENT, "seed refused too")
        runBlocking { t.flushAwait(20_000) }
        check(t.queued() == 0L, "queue empty after flushAwait")
        println("DONE")
    }
}

fun crash1(endpoint: String, dataDir: String, sent: Int, left: Int) {
    // The first `sent` events are delivered (flushAwait); the last `left` stay below
    // flushAt and inside the 10 s flush interval, so they are only on the device
    // when the test kills this process.
    val t = Tracker(config(endpoint, dataDir).copy(flushAt = 10))
    t.setConsent(ConsentState(analytics = true))
    for (i in 0 until sent) {
        t.track("crash_event", """{"seq":$i}""")
    }
    runBlocking { t.flushAwait(20_000) }
    for (i in sent until sent + left) {
        t.track("crash_event", """{"seq":$i}""")
    }
    println("TRACKED ${sent + left}")
    System.out.flush()
    Thread.sleep(600_000) // killed by the test long before this ends
}

fun crash2(endpoint: String, dataDir: String) {
    Tracker(config(endpoint, dataDir)).use { t ->
        println("CONSENT ${t.consent().analytics}")
        println("QUEUED_AT_START ${t.queued()}")
        runBlocking { t.flushAwait(20_000) }
        println("QUEUED_AFTER ${t.queued()}")
        println("DONE")
    }
}

fun count(endpoint: String, dataDir: String) {
    // flushAt/flushInterval high: this process only looks.
    Tracker(config(endpoint, dataDir).copy(flushAt = 1000, flushIntervalMs = 600_000)).use { t ->
        println("QUEUED ${t.queued()}")
        println("ANALYTICS ${t.consent().analytics}")
        println("PERSONALIZATION ${t.consent().personalization}")
        println("DONE")
    }
}

fun roundtrip(endpoint: String, dataDir: String) {
    Tracker(config(endpoint, dataDir)).use { t ->
        t.setConsent(ConsentState(analytics = true, personalization = true, marketing = true))
        val events = sampleSeedEvents()
        for (e in events) check(t.trackEvent(e) == TrackResult.QUEUED, "queued: $e")
        runBlocking { t.flushAwait(20_000) }
        println("TRACKED ${events.size}")
        println("ANONYMOUS_ID ${t.anonymousId()}")
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
        else -> {
            System.err.println("usage: CairnTest hashed|consent|crash1|crash2|count|roundtrip <endpoint> <dataDir> ...")
            exitProcess(2)
        }
    }
    // The JVM would wait for non-daemon threads; the SDK's thread is Rust's own, so exit now.
    exitProcess(0)
}

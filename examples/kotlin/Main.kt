// A small JVM program using Cairn's mobile SDK (the Kotlin layer `Cairn` over the
// generated bindings and libcairn_mobile.so; uploads with HttpURLConnection) against a
// local collector. Run it with examples/kotlin/run.sh.
//
//   demo  <endpoint> <writeKey> <dataDir>       consent, identify, a few seed events, flush
//   bench <endpoint> <writeKey> <dataDir> [n]   times n track() and n trackEvent() calls: median,
//                                               p90, p99 on the caller, calls/s through the threads

import dev.cairn.*
import kotlinx.coroutines.runBlocking
import kotlin.system.exitProcess

fun tracker(endpoint: String, writeKey: String, dataDir: String, flushAt: Int = 20) = Cairn(
    TrackerConfig(
        writeKey = writeKey,
        endpoint = endpoint,
        dataDir = dataDir,
        hashKey = "example-app-hash-key",
        flushAt = flushAt,
        context = DeviceContext(
            appName = "Cairn Kotlin example",
            appVersion = cairnVersion(),
            deviceType = "desktop",
            osName = System.getProperty("os.name"),
            osVersion = System.getProperty("os.version"),
            locale = "en-GB",
            timezone = java.util.TimeZone.getDefault().id,
        ),
    )
)

fun demo(endpoint: String, writeKey: String, dataDir: String) {
    tracker(endpoint, writeKey, dataDir).use { t ->
        // Opt-in: nothing is kept until the user says yes.
        t.setConsent(ConsentState(analytics = true, personalization = true))
        t.onForeground()
        t.identify("user-42", mapOf("email" to "ada@example.com", "plan" to "pro"))
        t.screen("Home")
        t.trackEvent(SeedEvent.Search(query = "red shoes"))
        t.trackEvent(SeedEvent.SearchResultClick(query = "red shoes", productId = "sku-1", position = 2))
        t.trackEvent(SeedEvent.AddToCart(productId = "sku-1", quantity = 1, price = 89.0, currency = "EUR"))
        t.trackEvent(
            SeedEvent.Purchase(
                orderId = "order-9",
                products = listOf(LineItem(productId = "sku-1", price = 89.0, quantity = 1, category = "shoes")),
                total = 89.0,
                currency = "EUR",
            ),
        )
        t.trackEvent(SeedEvent.HideItem(productId = "sku-9"), purpose = Purpose.PERSONALIZATION)
        t.track("custom_thing", mapOf("nested" to mapOf("a" to listOf(1, 2, 3))))
        try {
            t.track("price_check", mapOf("price" to Double.NaN))
        } catch (e: CairnException) {
            println("refused as expected: ${e.message}")
        }
        runBlocking { t.flushAwait(10_000) }
        println("sent; anonymousId=${t.anonymousId()} queued=${t.queued()}")
    }
}

fun bench(endpoint: String, writeKey: String, dataDir: String, n: Int) {
    // flushAt high so uploads do not run during the measurement; the queue is the
    // real SledStore under dataDir. The caller's share is timed (checks, encoding,
    // hand-off); every 500 calls the bench waits, untimed, for the threads to catch up
    // (a read), so the bounded queues never fill.
    tracker(endpoint, writeKey, dataDir, flushAt = 1_000_000).use { t ->
        t.setConsent(ConsentState(analytics = true))
        val props = mapOf("product_id" to "sku-123", "price" to 9.5, "quantity" to 1)
        repeat(20_000) { i ->
            if (i % 500 == 0) t.queued()
            t.track("warmup", props)
        } // JIT + JNA warm-up
        // Wall time of each loop, waits included: what the threads behind the caller
        // get through (the hand-off's crossings and the dispatcher's store writes).
        val custom = LongArray(n)
        var wall = System.nanoTime()
        for (i in 0 until n) {
            if (i % 500 == 0) t.queued()
            val s = System.nanoTime()
            t.track("bench_event", props)
            custom[i] = System.nanoTime() - s
        }
        t.queued()
        val customWall = System.nanoTime() - wall
        val seed = LongArray(n)
        wall = System.nanoTime()
        for (i in 0 until n) {
            if (i % 500 == 0) t.queued()
            val s = System.nanoTime()
            t.trackEvent(SeedEvent.AddToCart(productId = "sku-123", quantity = 1))
            seed[i] = System.nanoTime() - s
        }
        t.queued()
        val seedWall = System.nanoTime() - wall
        // The queue keeps maxQueueEvents (10,000); older events are dropped as overflow.
        println("queued ${t.queued()} of ${2 * n + 20_000} tracked, lastError=${t.lastError()}")
        report("track(name, map)", custom)
        report("trackEvent(AddToCart)", seed)
        println("through the threads (waits included): track ${n * 1_000_000_000L / customWall} calls/s, trackEvent ${n * 1_000_000_000L / seedWall} calls/s")
        runBlocking { t.flushAwait(60_000) }
    }
}

fun report(what: String, ns: LongArray) {
    ns.sort()
    fun p(q: Double) = ns[((ns.size - 1) * q).toInt()]
    println("$what from Kotlin: n=${ns.size} median=${p(0.5)} ns p90=${p(0.9)} ns p99=${p(0.99)} ns")
}

fun main(args: Array<String>) {
    val mode = args.getOrNull(0) ?: "demo"
    val endpoint = args.getOrNull(1) ?: "http://127.0.0.1:8080"
    val writeKey = args.getOrNull(2) ?: System.getenv("CAIRN_WRITE_KEY") ?: "dev-write-key"
    val dataDir = args.getOrNull(3) ?: "${System.getProperty("java.io.tmpdir")}/cairn-kotlin-example"
    when (mode) {
        "demo" -> demo(endpoint, writeKey, dataDir)
        "bench" -> bench(endpoint, writeKey, dataDir, args.getOrNull(4)?.toInt() ?: 10_000)
        else -> {
            System.err.println("usage: Main demo|bench [endpoint] [writeKey] [dataDir] [n]")
            exitProcess(2)
        }
    }
    exitProcess(0)
}

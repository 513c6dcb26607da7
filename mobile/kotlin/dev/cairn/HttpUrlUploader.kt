// The Kotlin layer's uploader: HttpURLConnection, the platform's own HTTP stack (on
// Android the system's TLS, certificates, proxies and network security config; on a
// JVM the default SSLContext, i.e. javax.net.ssl.trustStore). No extra dependency.
//
// Rules (the core decides everything else):
// - POST the body with the headers as given; connect and read timeouts are the
//   request's timeoutMs;
// - any status line read -> UploadResult.Status(code, raw Retry-After header);
// - no status (connect failure, timeout, TLS failure, connection dropped) ->
//   UploadResult.Transport(message);
// - the response body is read and discarded so the connection can be reused.
package dev.cairn

import java.io.IOException
import java.net.HttpURLConnection
import java.net.URL

class HttpUrlUploader : HttpUploader {
    override fun upload(request: UploadRequest): UploadResult {
        val timeout = request.timeoutMs.coerceIn(1L, Int.MAX_VALUE.toLong()).toInt()
        var conn: HttpURLConnection? = null
        return try {
            conn = URL(request.url).openConnection() as HttpURLConnection
            conn.requestMethod = "POST"
            conn.connectTimeout = timeout
            conn.readTimeout = timeout
            conn.doOutput = true
            conn.useCaches = false
            conn.instanceFollowRedirects = false
            for ((name, value) in request.headers) conn.setRequestProperty(name, value)
            conn.setFixedLengthStreamingMode(request.body.size)
            conn.outputStream.use { it.write(request.body) }
            val code = conn.responseCode
            if (code < 0) return UploadResult.Transport("no valid HTTP status line")
            val retryAfter = conn.getHeaderField("Retry-After")
            val stream = if (code >= 400) conn.errorStream else conn.inputStream
            stream?.use { it.readBytes() }
            UploadResult.Status(code, retryAfter)
        } catch (e: IOException) {
            conn?.disconnect()
            UploadResult.Transport("${e.javaClass.simpleName}: ${e.message}")
        }
    }
}

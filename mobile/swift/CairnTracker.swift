// The Swift layer over the generated bindings (module Cairn): `Cairn` takes
// `[String: Any]` properties, and `URLSessionUploader` performs uploads with the
// system's URLSession (its certificates, proxies, VPN and ATS rules).
//
// Rules:
// - values: nil / NSNull, String, Bool, integers, Double / Float (finite only), nested
//   [String: Any] and [Any]; anything else, a NaN or an infinity throws
//   CairnError.InvalidArgument at the call, naming the path (`properties.items[2].price`);
// - every call hands its work to the library's dispatcher thread and returns: no disk
//   sync and no network on the caller's thread (the main thread may call it);
// - reads (`consent`, `anonymousId`, `queued`) wait for the calls before them, and
//   `flush(timeoutMs:)` is async: neither belongs in a tight UI path;
// - the uploader only reports how a request ended (status + raw Retry-After, or a
//   transport error); retry, Retry-After, 413 splitting are the core's rules.
//
// Not compiled here (no Swift toolchain on this machine kind): parsed with
// tree-sitter-swift by mobile/tests/foreign.rs.

import Foundation
#if canImport(UIKit)
import UIKit
#endif

/// Uploads with URLSession; blocks the library's upload thread until the answer.
public final class URLSessionUploader: HttpUploader, @unchecked Sendable {
    private let session: URLSession

    public init(session: URLSession = .shared) {
        self.session = session
    }

    public func upload(request: UploadRequest) -> UploadResult {
        guard let url = URL(string: request.url) else {
            return .transport(message: "invalid URL \(request.url)")
        }
        var req = URLRequest(url: url)
        req.httpMethod = "POST"
        req.timeoutInterval = TimeInterval(max(request.timeoutMs, 1)) / 1000
        for (name, value) in request.headers {
            req.setValue(value, forHTTPHeaderField: name)
        }
        req.httpBody = request.body
        let done = DispatchSemaphore(value: 0)
        var result = UploadResult.transport(message: "no answer")
        let task = session.dataTask(with: req) { _, response, error in
            if let http = response as? HTTPURLResponse {
                let retryAfter = http.value(forHTTPHeaderField: "Retry-After")
                result = .status(code: Int32(http.statusCode), retryAfter: retryAfter)
            } else {
                result = .transport(message: error?.localizedDescription ?? "no HTTP response")
            }
            done.signal()
        }
        task.resume()
        done.wait()
        return result
    }
}

/// `[String: Any]` -> the JSON object text the library takes.
enum CairnJSON {
    static let maxDepth = 64

    static func encode(_ what: String, _ map: [String: Any]) throws -> String? {
        if map.isEmpty {
            return nil
        }
        var out = ""
        try value(&out, what, map, 0)
        return out
    }

    static func bad(_ path: String, _ why: String) -> CairnError {
        return CairnError.InvalidArgument(message: "invalid argument: \(path) \(why)")
    }

    static func value(_ out: inout String, _ path: String, _ v: Any, _ depth: Int) throws {
        if depth > maxDepth {
            throw bad(path, "is nested deeper than \(maxDepth) levels")
        }
        let mirror = Mirror(reflecting: v)
        if mirror.displayStyle == .optional {
            if let inner = mirror.children.first {
                try value(&out, path, inner.value, depth)
            } else {
                out += "null"
            }
            return
        }
        switch v {
        case is NSNull:
            out += "null"
        case let s as String:
            string(&out, s)
        case let b as Bool:
            out += b ? "true" : "false"
        case let i as Int:
            out += String(i)
        case let i as Int64:
            out += String(i)
        case let i as Int32:
            out += String(i)
        case let d as Double:
            guard d.isFinite else { throw bad(path, "is \(d) (not a finite number)") }
            out += String(d)
        case let f as Float:
            guard f.isFinite else { throw bad(path, "is \(f) (not a finite number)") }
            out += String(Double(f))
        case let m as [String: Any]:
            out += "{"
            var first = true
            for (k, x) in m {
                if !first {
                    out += ","
                }
                first = false
                string(&out, k)
                out += ":"
                try value(&out, "\(path).\(k)", x, depth + 1)
            }
            out += "}"
        case let a as [Any]:
            out += "["
            for (i, x) in a.enumerated() {
                if i > 0 {
                    out += ","
                }
                try value(&out, "\(path)[\(i)]", x, depth + 1)
            }
            out += "]"
        default:
            throw bad(path, "has unsupported type \(type(of: v)) (use String, numbers, Bool, dictionaries, arrays or nil)")
        }
    }

    static func string(_ out: inout String, _ s: String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    out += String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}

/// What an app holds: one per app and dataDir.
public final class Cairn {
    private let tracker: Tracker
    private var observers: [NSObjectProtocol] = []

    public init(config: TrackerConfig, uploader: HttpUploader = URLSessionUploader()) throws {
        tracker = try Tracker(config: config, uploader: uploader)
    }

    public func track(_ event: String, _ properties: [String: Any] = [:], purpose: Purpose? = nil) throws {
        try tracker.track(event: event, propertiesJson: CairnJSON.encode("properties", properties), purpose: purpose)
    }

    public func trackEvent(_ event: SeedEvent, _ properties: [String: Any] = [:], purpose: Purpose? = nil) throws {
        try tracker.trackEvent(event: event, propertiesJson: CairnJSON.encode("properties", properties), purpose: purpose)
    }

    public func screen(_ name: String, _ properties: [String: Any] = [:]) throws {
        try tracker.screen(name: name, propertiesJson: CairnJSON.encode("properties", properties))
    }

    public func identify(_ userId: String, _ traits: [String: Any] = [:]) throws {
        try tracker.identify(userId: userId, traitsJson: CairnJSON.encode("traits", traits))
    }

    public func alias(_ newUserId: String) throws {
        try tracker.alias(newUserId: newUserId)
    }

    public func group(_ groupId: String, _ traits: [String: Any] = [:]) throws {
        try tracker.group(groupId: groupId, traitsJson: CairnJSON.encode("traits", traits))
    }

    public func reset() throws {
        try tracker.reset()
    }

    public func setConsent(_ consent: ConsentState) throws {
        try tracker.setConsent(consent: consent)
    }

    public func flush() throws {
        try tracker.flush()
    }

    public func onForeground() throws {
        try tracker.onForeground()
    }

    public func onBackground() throws {
        try tracker.onBackground()
    }

    public func consent() throws -> ConsentState {
        return try tracker.consent()
    }

    public func anonymousId() throws -> String {
        return try tracker.anonymousId()
    }

    public func queued() throws -> Int64 {
        return try tracker.queued()
    }

    public func lastError() -> String? {
        return tracker.lastError()
    }

    /// Uploads everything tracked before this call and waits (off the caller's thread).
    public func flush(timeoutMs: Int64) async throws {
        let tracker = self.tracker
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, Error>) in
            DispatchQueue.global(qos: .utility).async {
                do {
                    try tracker.flushAndWait(timeoutMs: timeoutMs)
                    done.resume()
                } catch {
                    done.resume(throwing: error)
                }
            }
        }
    }

    #if canImport(UIKit)
    /// app_opened now (the cold start) and on every return to the foreground;
    /// app_backgrounded, fsync and an upload on entering the background, inside a
    /// background task so iOS leaves the upload time to finish.
    public func observeLifecycle() {
        try? onForeground()
        let center = NotificationCenter.default
        observers.append(center.addObserver(
            forName: UIApplication.willEnterForegroundNotification, object: nil, queue: nil
        ) { [weak self] _ in
            try? self?.onForeground()
        })
        observers.append(center.addObserver(
            forName: UIApplication.didEnterBackgroundNotification, object: nil, queue: nil
        ) { [weak self] _ in
            guard let self = self else { return }
            try? self.onBackground()
            var task = UIBackgroundTaskIdentifier.invalid
            task = UIApplication.shared.beginBackgroundTask(withName: "cairn-flush") {
                UIApplication.shared.endBackgroundTask(task)
            }
            Task {
                try? await self.flush(timeoutMs: 20_000)
                UIApplication.shared.endBackgroundTask(task)
            }
        })
    }
    #endif

    deinit {
        for o in observers {
            NotificationCenter.default.removeObserver(o)
        }
    }
}

// The Kotlin layer's property encoder: Map<String, Any?> -> the JSON object text the
// library takes. Runs on the caller's thread so a bad value fails at the call.
//
// Rules:
// - values: null, String, Boolean, Int/Long/Short/Byte (whole numbers), Double/Float
//   (finite only), BigInteger/BigDecimal (as their digits), Char (a string), Map with
//   String keys, List / Array / Iterable / primitive arrays (JSON arrays), nested freely;
// - anything else, a NaN or an infinity, or a non-String key throws
//   CairnException.InvalidArgument naming the path (`properties.items[2].price`);
// - nesting deeper than 64 levels is refused (a cycle would otherwise never end).
package dev.cairn

internal object CairnJson {
    private const val MAX_DEPTH = 64

    /** The object as JSON text, or null when it is empty (no properties). */
    fun encode(what: String, map: Map<String, Any?>?): String? {
        if (map == null || map.isEmpty()) return null
        val sb = StringBuilder(64)
        value(sb, what, map, 0)
        return sb.toString()
    }

    private fun bad(path: String, why: String): Nothing =
        throw CairnException.InvalidArgument("invalid argument: $path $why")

    private fun value(sb: StringBuilder, path: String, v: Any?, depth: Int) {
        if (depth > MAX_DEPTH) bad(path, "is nested deeper than $MAX_DEPTH levels")
        when (v) {
            null -> sb.append("null")
            is String -> string(sb, v)
            is Boolean -> sb.append(v)
            is Int, is Long, is Short, is Byte -> sb.append(v)
            is Double -> if (v.isFinite()) sb.append(v) else bad(path, "is $v (not a finite number)")
            is Float -> if (v.isFinite()) sb.append(v.toDouble()) else bad(path, "is $v (not a finite number)")
            is java.math.BigInteger -> sb.append(v.toString())
            is java.math.BigDecimal -> sb.append(v.toString())
            is Char -> string(sb, v.toString())
            is Map<*, *> -> {
                sb.append('{')
                var first = true
                for ((k, x) in v) {
                    if (k !is String) bad(path, "has a key of type ${typeName(k)} (keys must be strings)")
                    if (!first) sb.append(',')
                    first = false
                    string(sb, k)
                    sb.append(':')
                    value(sb, "$path.$k", x, depth + 1)
                }
                sb.append('}')
            }
            is Array<*> -> array(sb, path, v.asIterable(), depth)
            is IntArray -> array(sb, path, v.asIterable(), depth)
            is LongArray -> array(sb, path, v.asIterable(), depth)
            is DoubleArray -> array(sb, path, v.asIterable(), depth)
            is BooleanArray -> array(sb, path, v.asIterable(), depth)
            is Iterable<*> -> array(sb, path, v, depth)
            else -> bad(path, "has unsupported type ${typeName(v)} (use String, Number, Boolean, Map, List or null)")
        }
    }

    private fun array(sb: StringBuilder, path: String, items: Iterable<*>, depth: Int) {
        sb.append('[')
        var i = 0
        for (x in items) {
            if (i > 0) sb.append(',')
            value(sb, "$path[$i]", x, depth + 1)
            i++
        }
        sb.append(']')
    }

    private fun typeName(v: Any?): String = if (v == null) "null" else v::class.java.name

    private fun string(sb: StringBuilder, s: String) {
        sb.append('"')
        for (c in s) {
            when (c) {
                '"' -> sb.append("\\\"")
                '\\' -> sb.append("\\\\")
                '\n' -> sb.append("\\n")
                '\r' -> sb.append("\\r")
                '\t' -> sb.append("\\t")
                else -> if (c < ' ') {
                    sb.append("\\u").append(String.format("%04x", c.code))
                } else {
                    sb.append(c)
                }
            }
        }
        sb.append('"')
    }
}

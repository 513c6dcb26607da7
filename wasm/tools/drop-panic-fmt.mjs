// Drops Rust's panic machinery from the web tracker's wasm on the stable toolchain
// (what nightly's -Cpanic=immediate-abort does by rebuilding std), as a step of
// wasm/build.sh between cargo and wasm-opt:
//
//   node drop-panic-fmt.mjs in.wasm out.wasm
//
// Why it is sound. The wasm is built with panic = "abort" for wasm32-unknown-unknown,
// where std's panic hook writes to a stderr that does not exist: a panic already ends
// in a trap (`unreachable`) with nothing observable before it. So:
// 1. The panic entry points (functions that never return: core::panicking::*, the
//    slice/option/result/RefCell/raw_vec/alloc failure functions, std's panic handler
//    and hook) get the body `unreachable` — the trap they end in anyway. So do the
//    methods of the payload types private to std's panic handler (only the handler,
//    now a trap, creates such a value).
// 2. Every other function that can no longer be reached also gets the body
//    `unreachable`; wasm-opt then removes it. Reachability: from the exports and the
//    start function, along direct calls and `ref.func`, and from a `call_indirect` of
//    type T to every table entry of type T (wasm traps on a signature mismatch, so
//    no other entry can be called). This is how core::fmt (Formatter, integer
//    Display, fmt::write) goes: it is only reachable from panics.
// Functions are found by their names in the name section of cargo's output (v0 or
// legacy mangling alike); the code is read as binaryen's text (wasm-dis, from the
// binaryen that build.sh needs for wasm-opt). Fails when no entry point matched
// (a toolchain whose names changed), so a silent no-op cannot happen; build.sh's
// size budget catches the rest.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
    console.error('usage: node drop-panic-fmt.mjs in.wasm out.wasm');
    process.exit(2);
}

// Rule: only functions that never return, or methods of values only they create.
const ENTRY_POINTS = [
    /4core9panicking/, // panic, panic_fmt, panic_bounds_check, assert_failed, panic_const::*, ...
    /4core5slice5index\d+\w*_fail/, // slice_index_fail, slice_end_index_len_fail, ...
    /4core6option\d+(unwrap|expect)_failed/,
    /4core6result\d+unwrap_failed/,
    /4core5slice\w*copy_from_slice\w*len_mismatch_fail/, // copy_from_slice's length check
    /5alloc3vec\w*(insert|remove)\w*assert_failed/, // Vec::insert / Vec::remove index checks
    /4core4cell\d+panic_already_(mutably_)?borrowed/,
    /5alloc7raw_vec\d+(handle_error|capacity_overflow)/,
    /5alloc5alloc18handle_alloc_error/,
    /3std5alloc8rust_oom/,
    /3std6thread5local18panic_access_error/,
    /3std9panicking13panic_handler/, // rust_begin_unwind, its closures, its payload types
    /3std9panicking11begin_panic/, // begin_panic and its payload type
    /3std9panicking15panic_with_hook/,
    /3std9panicking20rust_panic_with_hook/,
];

// --- the binary: sections, imported function count, names ------------------------
const bytes = readFileSync(input);
function leb(b, i) {
    let r = 0, s = 0, x;
    do { x = b[i++]; r += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80);
    return [r, i];
}
function enc(n) {
    const out = [];
    do { let b = n & 0x7f; n = Math.floor(n / 128); if (n) b |= 0x80; out.push(b); } while (n);
    return out;
}
const sections = [];
for (let i = 8; i < bytes.length;) {
    const id = bytes[i];
    const [size, j] = leb(bytes, i + 1);
    sections.push({ id, body: bytes.subarray(j, j + size) });
    i = j + size;
}
let imported = 0;
const names = new Map(); // function index -> name
for (const { id, body } of sections) {
    if (id === 2) {
        let [n, j] = leb(body, 0);
        for (let k = 0; k < n; k++) {
            let l;
            [l, j] = leb(body, j); j += l; // module
            [l, j] = leb(body, j); j += l; // field
            const kind = body[j++];
            if (kind === 0) { [, j] = leb(body, j); imported++; }
            else if (kind === 1) { j++; const f = body[j++]; [, j] = leb(body, j); if (f & 1) [, j] = leb(body, j); }
            else if (kind === 2) { const f = body[j++]; [, j] = leb(body, j); if (f & 1) [, j] = leb(body, j); }
            else if (kind === 3) { j += 2; }
            else throw new Error(`import kind ${kind}`);
        }
    } else if (id === 0) {
        let [l, j] = leb(body, 0);
        if (Buffer.from(body.subarray(j, j + l)).toString() !== 'name') continue;
        j += l;
        while (j < body.length) {
            const sub = body[j];
            let size;
            [size, j] = leb(body, j + 1);
            if (sub === 1) {
                let [n, k] = leb(body, j);
                for (let c = 0; c < n; c++) {
                    let idx, nl;
                    [idx, k] = leb(body, k);
                    [nl, k] = leb(body, k);
                    names.set(idx, Buffer.from(body.subarray(k, k + nl)).toString());
                    k += nl;
                }
            }
            j += size;
        }
    }
}
if (names.size === 0) throw new Error('drop-panic-fmt: no name section in ' + input);

// --- the call graph, from binaryen's text -----------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'cairn-wasm-'));
let wat;
try {
    // stdio piped: binaryen warns about the linking section, which is expected here.
    execFileSync('wasm-dis', [input, '-o', join(dir, 'm.wat')], { stdio: 'pipe' });
    wat = readFileSync(join(dir, 'm.wat'), 'utf8');
} finally {
    rmSync(dir, { recursive: true, force: true });
}
// A signature's canonical text; type names are mapped to it from the type section.
const signature = (params, results) => params.join(' ') + ' -> ' + results.join(' ');
const types = new Map(); // type name (without $) -> signature
const funcs = new Map(); // $name -> { sig, calls, indirect }
const exportsRoots = [];
let elem = [];
for (const chunk of wat.split(/\n (?=\()/)) {
    if (chunk.startsWith('(type ')) {
        const m = chunk.match(/^\(type \$(\S+) \(func((?: \(param [\w ]+\))*)(?: \(result ([\w ]+)\))?\)\)/);
        if (!m) throw new Error('drop-panic-fmt: unreadable type ' + chunk.slice(0, 100));
        const params = [...m[2].matchAll(/\(param ([\w ]+)\)/g)].flatMap((p) => p[1].split(' '));
        types.set(m[1], signature(params, m[3] ? m[3].split(' ') : []));
    } else if (chunk.startsWith('(func ')) {
        const head = chunk.slice(0, chunk.indexOf('\n') >>> 0 || chunk.length);
        const name = chunk.split(/\s/)[1];
        const params = [...head.matchAll(/\(param \$\d+ (\w+)\)/g)].map((m) => m[1]);
        const result = head.match(/\(result ([\w ]+)\)/);
        const sig = signature(params, result ? result[1].split(' ') : []);
        const calls = new Set([...chunk.matchAll(/\((?:call|ref\.func) (\$[^\s)]+)/g)].map((m) => m[1]));
        const indirect = new Set([...chunk.matchAll(/call_indirect \$\S+ \(type \$([^\s)]+)\)/g)].map((m) => {
            if (!types.has(m[1])) throw new Error('drop-panic-fmt: unknown call_indirect type ' + m[1]);
            return types.get(m[1]);
        }));
        funcs.set(name, { sig, calls, indirect });
    } else if (chunk.startsWith('(elem')) {
        elem = elem.concat([...chunk.replace(/^\(elem[^$]*\(i32\.const \d+\)/, '').matchAll(/\$[^\s)]+/g)].map((m) => m[0]));
    } else if (chunk.startsWith('(export') && chunk.includes('(func ')) {
        exportsRoots.push(chunk.match(/\(func (\$[^\s)]+)\)/)[1]);
    } else if (chunk.startsWith('(start ')) {
        exportsRoots.push(chunk.match(/\(start (\$[^\s)]+)\)/)[1]);
    }
}
const tableBySig = new Map();
for (const e of elem) {
    const f = funcs.get(e);
    if (!f) continue; // an imported function: nothing to stub
    if (!tableBySig.has(f.sig)) tableBySig.set(f.sig, []);
    tableBySig.get(f.sig).push(e);
}
const entry = new Set([...funcs.keys()].filter((n) => ENTRY_POINTS.some((p) => p.test(n))));
if (![...entry].some((n) => /4core9panicking9panic_fmt/.test(n))) {
    throw new Error('drop-panic-fmt: core::panicking::panic_fmt not found by name (toolchain changed?)');
}
const reached = new Set();
const typesReached = new Set();
const todo = [...exportsRoots];
while (todo.length) {
    const n = todo.pop();
    if (reached.has(n) || !funcs.has(n)) continue;
    reached.add(n);
    if (entry.has(n)) continue;
    const f = funcs.get(n);
    todo.push(...f.calls);
    for (const t of f.indirect) {
        if (typesReached.has(t)) continue;
        typesReached.add(t);
        todo.push(...(tableBySig.get(t) || []));
    }
}
const stub = new Set([...entry, ...[...funcs.keys()].filter((n) => !reached.has(n))]);

// --- data only the stubbed code used: zeroed (when cargo's output has relocations) ---
// With `-C link-arg=--emit-relocs` (build.sh) the linker keeps its symbol table and
// relocations: every address of a data symbol written into code or data has one.
// A data symbol is live when a function that stays (not stubbed) or a live data
// symbol refers to it (the symbol itself, and the one its address plus addend falls
// in); the bytes of every other symbol (panic messages, source paths, `Location`s)
// are zeroed unless a live symbol overlaps them, and wasm-opt drops the zero runs.
const custom = new Map(); // custom section name -> contents after the name
for (const { id, body } of sections) {
    if (id !== 0) continue;
    const [l, j] = leb(body, 0);
    custom.set(Buffer.from(body.subarray(j, j + l)).toString(), body.subarray(j + l));
}
const codeBody = sections.find((x) => x.id === 10).body;
const bodies = []; // [start, end) of each defined function in the code section
{
    let [n, j] = leb(codeBody, 0);
    for (let k = 0; k < n; k++) {
        const start = j;
        let size;
        [size, j] = leb(codeBody, j);
        j += size;
        bodies.push([start, j]);
    }
}
const stubbedFn = (k) => {
    const name = names.get(imported + k);
    return name !== undefined && stub.has('$' + name);
};
const dataSection = sections.find((x) => x.id === 11);
const zeroed = []; // [start, end) in the data section's contents
if (custom.has('linking') && custom.has('reloc.CODE') && dataSection) {
    const d = dataSection.body;
    const segs = []; // { at: contents offset of the bytes, addr, size }
    {
        let [n, j] = leb(d, 0);
        for (let k = 0; k < n; k++) {
            let flags, size, addr = -1;
            [flags, j] = leb(d, j);
            if (flags === 2) [, j] = leb(d, j);
            if (flags !== 1) {
                if (d[j] !== 0x41) throw new Error('drop-panic-fmt: data segment offset is not i32.const');
                let r = 0, sh = 0, x;
                j++;
                do { x = d[j++]; r |= (x & 0x7f) << sh; sh += 7; } while (x & 0x80);
                if (sh < 32 && (x & 0x40)) r |= -1 << sh;
                addr = r;
                if (d[j++] !== 0x0b) throw new Error('drop-panic-fmt: data segment offset is not a constant');
            }
            [size, j] = leb(d, j);
            segs.push({ at: j, addr, size });
            j += size;
        }
    }
    // Symbols in table order (relocations refer to them by index); data ones with
    // their range in the data section's contents and in memory.
    const syms = [];
    {
        const L = custom.get('linking');
        let [, p] = leb(L, 0);
        while (p < L.length) {
            const sub = L[p];
            let n;
            [n, p] = leb(L, p + 1);
            const end = p + n;
            if (sub === 8) {
                let [c, q] = leb(L, p);
                for (let k = 0; k < c; k++) {
                    const kind = L[q];
                    let flags, l;
                    [flags, q] = leb(L, q + 1);
                    const undef = flags & 0x10;
                    if (kind === 1) {
                        [l, q] = leb(L, q);
                        q += l;
                        if (undef) { syms.push(null); continue; }
                        let seg, off, size;
                        [seg, q] = leb(L, q);
                        [off, q] = leb(L, q);
                        [size, q] = leb(L, q);
                        const sg = segs[seg];
                        syms.push({ from: sg.at + off, to: sg.at + off + size, addr: sg.addr + off, size, flags });
                    } else if (kind === 3) {
                        [, q] = leb(L, q);
                        syms.push(null);
                    } else {
                        [, q] = leb(L, q);
                        if (!undef || flags & 0x40) { [l, q] = leb(L, q); q += l; }
                        syms.push(null);
                    }
                }
            }
            p = end;
        }
    }
    const data = syms.filter(Boolean);
    const ADDEND = new Set([3, 4, 5, 8, 9, 11, 14, 15, 16, 17, 21, 22, 23, 25]);
    const MEMORY = new Set([3, 4, 5, 11, 14, 15, 16, 17, 21, 23, 25]);
    const relocs = (name) => {
        const R = custom.get(name), out = [];
        if (!R) return out;
        let [, p] = leb(R, 0);
        let c;
        [c, p] = leb(R, p);
        for (let k = 0; k < c; k++) {
            const type = R[p];
            let offset, index, addend = 0;
            [offset, p] = leb(R, p + 1);
            [index, p] = leb(R, p);
            if (ADDEND.has(type)) {
                let r = 0, sh = 0, x;
                do { x = R[p++]; r |= (x & 0x7f) << sh; sh += 7; } while (x & 0x80);
                if (sh < 32 && (x & 0x40)) r |= -1 << sh;
                addend = r;
            }
            if (MEMORY.has(type) && syms[index]) out.push({ type, offset, sym: syms[index], addend });
        }
        return out;
    };
    const live = new Set();
    const todo = [];
    const mark = (r) => {
        const at = r.sym.addr + r.addend;
        for (const t of [r.sym, ...data.filter((x) => x.addr <= at && at < x.addr + x.size)]) {
            if (!live.has(t)) { live.add(t); todo.push(t); }
        }
    };
    // Exported or kept symbols are live whatever refers to them.
    for (const x of data) if (x.flags & (0x20 | 0x80)) { live.add(x); todo.push(x); }
    // An address pushed (i32.const) and then, after nothing but other pushes, passed
    // to a call of a stubbed function is never read: that call traps first.
    const skipLeb = (b, j) => { while (b[j++] & 0x80); return j; };
    const toTrap = (r) => {
        if (r.type !== 4 || codeBody[r.offset - 1] !== 0x41) return false;
        let j = skipLeb(codeBody, r.offset);
        for (;;) {
            const op = codeBody[j];
            if (op === 0x41 || op === 0x42 || op === 0x20 || op === 0x23) j = skipLeb(codeBody, j + 1);
            else if (op === 0x43) j += 5;
            else if (op === 0x44) j += 9;
            else break;
        }
        if (codeBody[j] !== 0x10) return false;
        const [callee] = leb(codeBody, j + 1);
        return callee >= imported && stubbedFn(callee - imported);
    };
    let fi = 0, trapArgs = 0;
    for (const r of relocs('reloc.CODE').sort((a, b) => a.offset - b.offset)) {
        while (fi < bodies.length && bodies[fi][1] <= r.offset) fi++;
        if (fi < bodies.length && r.offset >= bodies[fi][0] && !stubbedFn(fi)) {
            if (toTrap(r)) trapArgs++;
            else mark(r);
        }
    }
    const dataRelocs = relocs('reloc.DATA');
    while (todo.length) {
        const x = todo.pop();
        for (const r of dataRelocs) if (r.offset >= x.from && r.offset < x.to) mark(r);
    }
    for (const x of data) {
        if (live.has(x) || x.size === 0) continue;
        let from = x.from, to = x.to;
        // Bytes a live symbol also covers stay.
        for (const y of live) if (y.from < to && from < y.to) { from = Math.max(from, y.to); if (y.from > from) to = Math.min(to, y.from); }
        if (from < to) zeroed.push([from, to]);
    }
} else {
    console.error('drop-panic-fmt: no relocations in the input (link with --emit-relocs): data kept as is');
}

// --- rewrite the code section: stubbed bodies become `unreachable` ------------------
const out = [...bytes.subarray(0, 8)];
let stubbed = 0, saved = 0;
for (const { id, body } of sections) {
    let content = body;
    if (id === 10) {
        let [n, j] = leb(body, 0);
        const code = [...enc(n)];
        for (let k = 0; k < n; k++) {
            let size;
            const start = j;
            [size, j] = leb(body, j);
            let fb = body.subarray(j, j + size);
            j += size;
            const name = names.get(imported + k);
            if (name && stub.has('$' + name) && size > 3) {
                stubbed++;
                saved += j - start;
                fb = Uint8Array.of(0x00, 0x00, 0x0b); // no locals; unreachable; end
            }
            code.push(...enc(fb.length), ...fb);
        }
        content = Uint8Array.from(code);
    }
    if (id === 11 && zeroed.length) {
        content = Uint8Array.from(body);
        for (const [a, b] of zeroed) content.fill(0, a, b);
    }
    if (id === 0) {
        const [l, j] = leb(body, 0);
        const name = Buffer.from(body.subarray(j, j + l)).toString();
        if (name === 'linking' || name.startsWith('reloc.')) continue; // stale now
    }
    out.push(id, ...enc(content.length));
    for (let k = 0; k < content.length; k += 65536) out.push(...content.subarray(k, k + 65536));
}
writeFileSync(output, Uint8Array.from(out));
const zeroBytes = zeroed.reduce((n, [a, b]) => n + b - a, 0);
console.error(`drop-panic-fmt: ${stubbed} functions stubbed (${entry.size} panic entry points), ${saved} bytes of code; ${zeroBytes} bytes of data zeroed`);

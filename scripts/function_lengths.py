#!/usr/bin/env python3
# Usage: scripts/function_lengths.py [THRESHOLD] [PATHS...]  (default 100; lib dialects runtime tools include)
"""Lists C++ function definitions longer than a threshold (lines from the
signature to the closing brace), found by brace matching after comments and
strings are blanked. Lambdas count towards the function that holds them."""
import re, sys, os, subprocess

CONTROL = {"if", "for", "while", "switch", "catch", "return", "sizeof", "decltype", "alignof"}

def blank(text):
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            if m:
                end = text.find(")" + m.group(1) + '"', i)
                end = n if end < 0 else end + len(m.group(1)) + 2
                out.append(re.sub(r"[^\n]", " ", text[i:end])); i = end
            else:
                out.append(c); i += 1
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (j - i - 1) + c); i = j + 1
        else:
            out.append(c); i += 1
    return "".join(out)

def functions(path):
    text = blank(open(path, encoding="utf-8", errors="replace").read())
    lines_at = [0]
    for m in re.finditer("\n", text):
        lines_at.append(m.end())
    def line_of(pos):
        import bisect
        return bisect.bisect_right(lines_at, pos)
    stack = []  # (kind, start_pos, name)
    found = []
    i = 0
    for m in re.finditer(r"[{}]", text):
        p = m.start()
        if text[p] == "{":
            head = text[max(0, p - 400):p]
            # the text since the previous ; { or }
            k = max(head.rfind(";"), head.rfind("{"), head.rfind("}"))
            sig = head[k + 1:]
            s = sig.strip()
            kind = "block"
            if not any(st[0] == "func" for st in stack):
                mm = re.search(r"([A-Za-z_~][\w:~<>]*)\s*\([^;]*\)\s*(const|override|final|noexcept|mutable|\s|->\s*[\w:<>&*, ]+)*$", s, re.S)
                if mm and mm.group(1).split("::")[-1] not in CONTROL and not re.search(r"\]\s*\(", s) and not re.match(r"^(struct|class|namespace|enum|union)\b", s):
                    kind = "func"
                    name = mm.group(1)
                    start = p - len(head) + k + 1 + (len(sig) - len(sig.lstrip()))
                    stack.append((kind, start, name))
                    continue
            stack.append((kind, p, None))
        else:
            if not stack:
                continue
            kind, start, name = stack.pop()
            if kind == "func":
                a, b = line_of(start), line_of(p)
                found.append((b - a + 1, path, a, name))
    return found

def main():
    thr = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    roots = sys.argv[2:] or ["lib", "dialects", "runtime", "tools", "include"]
    files = subprocess.run(["git", "ls-files", *roots], capture_output=True, text=True).stdout.split()
    allf = []
    for f in files:
        if f.endswith((".cpp", ".h")) and os.path.exists(f):
            allf += functions(f)
    allf.sort(reverse=True)
    long = [x for x in allf if x[0] > thr]
    for n, p, a, name in long:
        print(f"{n:5d} {p}:{a} {name}")
    print(f"{len(long)} functions over {thr} lines ({len(allf)} functions)")
main()

#!/usr/bin/env python3
"""The tool guard: every external program the project's scripts and tests invoke must come from the base image
or from scripts/setup.sh.

It reads the shell scripts (scripts/*.sh, broker/*.sh, .ci/run), the Python scripts (scripts/**/*.py) and the
Swift tests and tools (shell lines passed to `system(...)`, executables given to Process), lists every program
they invoke, and checks each one on this machine (run it after scripts/setup.sh). A folder that holds a Dockerfile
is an image's build context (scripts/compose/standins/*): what its files invoke runs inside that image, so it is
not read.

- not on this machine at all: nothing installs it -> failure, naming the program and where it is invoked;
- owned by a Debian package: the package must be in the base image (scripts/base-image-packages.txt, the
  packages a new machine of this kind has) or in setup.sh's `packages=(...)` list -> otherwise failure
  (it is here only because somebody installed it by hand);
- not owned by any package (the Swift toolchain in /opt/swift, pyenv's Python): must be one of TOOLCHAIN.

  python3 scripts/check_tools.py              check the tree; exit 1 naming each program that fails
  python3 scripts/check_tools.py --list       also print every program found, with its provider
  python3 scripts/check_tools.py --self-test  check the checker on trees of its own (one good, one bad)
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

# Programs the base image has outside Debian's package database (the machine doc: Swift 6.3.1 at /opt/swift,
# CPython with pip).
TOOLCHAIN = {"swift", "swiftc", "python3", "python", "pip", "pip3"}

# Shell words that are not programs: keywords, builtins, and words after which a command follows.
KEYWORDS = {"if", "then", "else", "elif", "fi", "for", "in", "do", "done", "while", "until", "case", "esac",
            "function", "select", "{", "}", "!", "[[", "]]", "time"}
BUILTINS = {".", ":", "[", "alias", "bg", "bind", "break", "builtin", "cd", "command", "continue", "declare",
            "dirs", "disown", "echo", "enable", "eval", "exec", "exit", "export", "false", "fg", "getopts", "hash",
            "help", "history", "jobs", "kill", "let", "local", "logout", "mapfile", "popd", "printf", "pushd",
            "pwd", "read", "readarray", "readonly", "return", "set", "shift", "shopt", "source", "suspend", "test",
            "times", "trap", "true", "type", "typeset", "ulimit", "umask", "unalias", "unset", "wait"}
# Words that take a command as their argument (`command -v X` checks for X, `sudo X` runs X).
PREFIXES = {"command", "exec", "sudo", "env", "nohup", "timeout", "nice", "xargs", "setsid", "stdbuf", "time"}
OPERATORS = {"|", "||", "&&", ";", ";;", "&", "(", ")", "()", "|&", "\n"}
REDIRECTS = {">", ">>", "<", "<<", "<<<", ">&", "<&", "&>", "&>>", ">|"}


def shell_commands(text, variables=None):
    """Yields (program, line number) for every word in command position in a shell text. Literal variable
    assignments (`bin=/usr/lib/x`) are followed so that `"$bin/tool"` names /usr/lib/x/tool."""
    variables = dict(variables or {})
    functions = set(re.findall(r"^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)\s*\{", text, re.M))
    for name, value in re.findall(r"^\s*([A-Za-z_]\w*)=([^\s$`\"'()]+)\s*$", text, re.M):
        variables[name] = value
    text = re.sub(r"=\(([^)]*)\)", lambda m: "=(" + m.group(1).replace("\n", " ") + ")", text)  # arrays on one line
    for line in join_continuations(text):
        for inner in command_substitutions(line):
            for program, _ in shell_commands_in_line(inner, functions, variables):
                yield program, line_number(text, line)
        for program, _ in shell_commands_in_line(line, functions, variables):
            yield program, line_number(text, line)


def join_continuations(text):
    lines, current = [], ""
    for line in text.splitlines():
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        lines.append(current + line)
        current = ""
    if current:
        lines.append(current)
    return lines


def line_number(text, line):
    head = line.split("\\")[0][:60]
    index = text.find(head) if head.strip() else -1
    return text.count("\n", 0, index) + 1 if index >= 0 else 0


def command_substitutions(line):
    """The contents of every $( ... ) in a line, nested ones too (backquotes are not used here)."""
    found, stack = [], []
    i = 0
    while i < len(line):
        if line.startswith("$((", i):  # arithmetic, not a command
            depth, j = 0, i + 1
            while j < len(line):
                depth += {"(": 1, ")": -1}.get(line[j], 0)
                if depth == 0:
                    break
                j += 1
            i = j + 1
            continue
        if line.startswith("$(", i):
            stack.append(i + 2)
            i += 2
            continue
        if line[i] == ")" and stack:
            found.append(line[stack.pop():i])
        i += 1
    return found


def shell_commands_in_line(line, functions, variables):
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return
    flattened = strip_arithmetic(line)
    flattened = re.sub(r"\$\(", " ( ", flattened)  # substitutions are read on their own; keep their bounds
    tokens = tokenize(flattened)
    if tokens is None:
        return
    expect_command, skip_until, after_redirect = True, None, False
    for index, token in enumerate(tokens):
        if after_redirect:
            after_redirect = False
            continue
        if token in REDIRECTS or re.fullmatch(r"\d*[<>]+&?\d*", token):
            after_redirect = token.endswith((">", "<"))
            continue
        if skip_until:
            if token in skip_until:
                skip_until, expect_command = None, True
            continue
        if token in OPERATORS:
            expect_command = True
            continue
        if not expect_command:
            continue
        if token in ("for", "select"):
            skip_until = {";", "do", "\n"}
            continue
        if token == "case":
            skip_until = {"in"}
            continue
        if token in KEYWORDS:
            continue
        if re.fullmatch(r"[A-Za-z_]\w*(\[[^]]*\])?\+?=.*", token):  # an assignment before a command
            if token.endswith("=") and index + 1 < len(tokens) and tokens[index + 1] in ("(", "()"):
                skip_until = {")", "()"}  # an array: `packages=(a b c)`
            continue
        if index + 1 < len(tokens) and tokens[index + 1] == ")" and "(" not in tokens[:index]:
            continue  # a case pattern: `start)`
        program = resolve(token, variables)
        expect_command = token in PREFIXES
        if token == "command" or token == "env":
            continue
        if token == "exec" or token == "sudo":
            continue
        if program is None or token in BUILTINS or token in functions or program in functions:
            if token in PREFIXES:
                expect_command = True
            continue
        if program.startswith("-"):
            expect_command = True  # options of a prefix word (command -v X, timeout 5 X)
            continue
        if re.fullmatch(r"\d+(\.\d+)?[smh]?", program):
            expect_command = True
            continue
        yield program, 0
        if program in PREFIXES:
            expect_command = True


def strip_arithmetic(line):
    """`$(( … ))` and `(( … ))` hold arithmetic, not commands."""
    previous = None
    while previous != line:
        previous = line
        line = re.sub(r"\$?\(\([^()]*(?:\([^()]*\)[^()]*)*\)\)", "0", line)
    return line


def tokenize(text):
    """Shell words and operators; a text cut short inside quotes (a Swift literal read up to an interpolation)
    is closed first."""
    for ending in ("", "'", '"'):
        try:
            lexer = shlex.shlex(text + ending, posix=True, punctuation_chars=";&|()<>")
            lexer.whitespace_split = True
            lexer.commenters = "#"
            return list(lexer)
        except ValueError:
            continue
    return None


def resolve(word, variables):
    """The program a command word names, or None for words that name the project's own files or a value only
    known when the script runs."""
    match = re.match(r"^\$\{?([A-Za-z_]\w*)\}?(/.*)?$", word)
    if match:
        value = variables.get(match.group(1))
        if value is None or not match.group(2):
            return None
        word = value + match.group(2)
    if word.startswith("$") or "$" in word:
        return None
    if word.startswith(("./", "../", ".build", "scripts/", "broker/", ".ci/")) or word.endswith((".sh", ".py")):
        return None
    return word


def python_commands(text):
    """Programs started by subprocess with a literal first element."""
    for match in re.finditer(r"subprocess\.(?:run|Popen|call|check_call|check_output)\(\s*\[\s*(['\"])([^'\"]+)\1", text):
        yield match.group(2), text.count("\n", 0, match.start()) + 1
    for match in re.finditer(r"\b(?:command|cmd|argv)\s*=\s*\[\s*(['\"])([^'\"]+)\1", text):  # argv built first
        yield match.group(2), text.count("\n", 0, match.start()) + 1
    for match in re.finditer(r"shutil\.which\(\s*(['\"])([^'\"]+)\1", text):
        yield match.group(2), text.count("\n", 0, match.start()) + 1


VENV_MARK = re.compile(r"^# logpipe-venv: (\S+)$", re.M)


def python_modules(text):
    """Modules a Python script imports that are not in the standard library, as `python3:NAME` (checked with
    Debian's /usr/bin/python3, the interpreter the scripts name), or, for a script marked
    `# logpipe-venv: .build/NAME` (run by the tests with that venv's python), as `venv:.build/NAME:MODULE`."""
    mark = VENV_MARK.search(text)
    prefix = f"venv:{mark.group(1)}:" if mark else "python3:"
    for match in re.finditer(r"^\s*(?:import\s+([A-Za-z_]\w*)|from\s+([A-Za-z_]\w*)[.\w]*\s+import\b)", text, re.M):
        name = match.group(1) or match.group(2)
        if name not in sys.stdlib_module_names and name != "__future__":
            yield prefix + name, text.count("\n", 0, match.start()) + 1


def module_path(name, python="/usr/bin/python3"):
    # A namespace package (opentelemetry) has no __file__: its first path counts.
    code = f"import {name}, sys; sys.stdout.write(getattr({name}, '__file__', None) or next(iter({name}.__path__), ''))"
    result = subprocess.run([python, "-c", code],
                            capture_output=True, text=True)
    return result.stdout if result.returncode == 0 and result.stdout else None


def swift_commands(text):
    """Shell lines given to `system("…")` (read up to the first interpolation) and literal executables."""
    for match in re.finditer(r"\bsystem\(\s*\"((?:[^\"\\]|\\.)*)\"", text):
        line = match.group(1).split("\\(")[0]
        for program, _ in shell_commands(line):
            yield program, text.count("\n", 0, match.start()) + 1
    for match in re.finditer(r"executableURL\s*=\s*URL\(fileURLWithPath:\s*\"([^\"]+)\"", text):
        yield match.group(1), text.count("\n", 0, match.start()) + 1


def invoked_programs(root):
    """{program: [where, …]} over the project's scripts and tests."""
    found = {}

    def add(program, path, number):
        found.setdefault(program, []).append(f"{os.path.relpath(path, root)}:{number}")

    for directory, names in (("scripts", None), ("broker", None), (".ci", None), ("Tests", None), ("Sources", None)):
        base = os.path.join(root, directory)
        for folder, subfolders, files in os.walk(base):
            subfolders[:] = [s for s in subfolders if not s.startswith(".build")]
            if "Dockerfile" in files:
                # An image's build context (the compose test's stand-ins): its scripts run inside the image, whose
                # Dockerfile installs what they invoke, not on this machine.
                subfolders[:] = []
                continue
            for name in sorted(files):
                path = os.path.join(folder, name)
                if os.path.abspath(path) == os.path.abspath(__file__):
                    continue  # this checker's own self-test names programs that must not exist
                try:
                    text = open(path, encoding="utf-8").read()
                except (UnicodeDecodeError, OSError):
                    continue
                if name.endswith(".sh") or (directory == ".ci" and text.startswith("#!")) \
                        or text.startswith("#!/usr/bin/env bash") or text.startswith("#!/bin/sh"):
                    for program, number in shell_commands(text):
                        add(program, path, number)
                elif name.endswith(".py"):
                    for program, number in python_commands(text):
                        add(program, path, number)
                    # Modules of the script's folder, or of any folder under scripts/ (a script may put one such
                    # folder on sys.path, as the chaos soak does with scripts/netfaults): the project's own code.
                    local = {n[:-3] for n in os.listdir(folder) if n.endswith(".py")} | project_modules(root)
                    for module, number in python_modules(text):
                        if module.split(":")[1] not in local:
                            add(module, path, number)
                elif name.endswith(".swift"):
                    for program, number in swift_commands(text):
                        add(program, path, number)
    return found


def setup_packages(root):
    text = open(os.path.join(root, "scripts", "setup.sh"), encoding="utf-8").read()
    match = re.search(r"^packages=\(([^)]*)\)", text, re.M)
    return set(match.group(1).split()) if match else set()


def base_packages(root):
    path = os.path.join(root, "scripts", "base-image-packages.txt")
    return {line.strip() for line in open(path, encoding="utf-8") if line.strip() and not line.startswith("#")}


def project_modules(root):
    """The names of the Python files under scripts/ (modules the project itself holds)."""
    names = set()
    for folder, _, files in os.walk(os.path.join(root, "scripts")):
        names.update(n[:-3] for n in files if n.endswith(".py"))
    return names


SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin", "/opt/swift/usr/bin"])


def owning_package(path):
    """The Debian package that owns a file (merged /usr: /usr/bin/x may be registered as /bin/x), or None."""
    candidates = [path, os.path.realpath(path)]
    for candidate in list(candidates):
        if candidate.startswith("/usr/"):
            candidates.append(candidate[len("/usr"):])
        else:
            candidates.append("/usr" + candidate)
    for candidate in candidates:
        result = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            line = result.stdout.splitlines()[0]
            if line.startswith("diversion"):
                continue
            return line.split(":")[0].split(",")[0].strip()
    return None


def check(root, show=False):
    programs = invoked_programs(root)
    allowed = base_packages(root) | setup_packages(root)
    setup = setup_packages(root)
    failures = []
    for program in sorted(programs):
        where = ", ".join(programs[program][:3]) + (" …" if len(programs[program]) > 3 else "")
        if program.startswith("venv:"):
            # A PyPI package in a venv that `scripts/setup.sh --test` creates: the venv must be setup.sh's, and
            # the module must import there.
            _, venv, module = program.split(":")
            python = os.path.join(root, venv, "bin", "python")
            setup_text = open(os.path.join(root, "scripts", "setup.sh"), encoding="utf-8").read()
            if f"={venv}" not in setup_text:
                failures.append(f"{program}: invoked at {where}, but scripts/setup.sh creates no venv {venv}")
            elif not os.path.exists(python) or not module_path(module, python):
                failures.append(f"{program}: invoked at {where}, but {venv} does not provide it: run scripts/setup.sh --test "
                                "(and list the PyPI package there)")
            elif show:
                print(f"  {program:24} {'setup.sh --test (PyPI, ' + venv + ')':36} {where}")
            continue
        if program.startswith("python3:"):
            path = module_path(program.split(":")[1])
        else:
            path = program if os.path.isabs(program) else shutil.which(program, path=SEARCH_PATH)
        if not path or not os.path.exists(path):
            failures.append(f"{program}: invoked at {where}, but not on this machine: neither the base image nor "
                            "scripts/setup.sh provides it (add its Debian package to packages=(…) in setup.sh)")
            continue
        package = owning_package(path)
        if package is None:
            if os.path.basename(program) in TOOLCHAIN:
                provider = "toolchain (base image)"
            else:
                failures.append(f"{program}: invoked at {where}; {path} belongs to no Debian package and is not "
                                "part of the base toolchain (installed by hand?)")
                continue
        elif package in setup:
            provider = f"setup.sh ({package})"
        elif package in allowed:
            provider = f"base image ({package})"
        else:
            failures.append(f"{program}: invoked at {where}; it comes from the Debian package {package}, which is "
                            "neither in the base image nor listed in scripts/setup.sh's packages=(…) (here by hand or as a "
                            "dependency of another package: list it)")
            continue
        if show:
            print(f"  {program:24} {provider:36} {where}")
    return programs, failures


def self_test():
    """The checker must find programs in every kind of file it reads, and fail naming the missing one."""
    with tempfile.TemporaryDirectory() as root:
        for folder in ("scripts", "broker", ".ci", "Tests/X", "scripts/image"):
            os.makedirs(os.path.join(root, folder))
        files = {
            "scripts/setup.sh": "#!/usr/bin/env bash\npackages=(coreutils)\n",
            "scripts/base-image-packages.txt": "bash\ncoreutils\ngrep\nsed\n",
            "scripts/a.sh": "#!/usr/bin/env bash\nset -e\nhelper() { echo hi; }\nfor x in a b; do helper; done\n"
                            "case \"$1\" in\n  start) sort -u /dev/null ;;\nesac\n"
                            "bin=/usr/bin\nX=1 \"$bin/env\" true | grep -q x && out=$(sed -n 1p /dev/null)\n"
                            "command -v logpipe-missing-tool-a > /dev/null || true\n",
            ".ci/run": "#!/usr/bin/env bash\nbash scripts/a.sh\n",
            "scripts/b.py": "import subprocess\nimport logpipe_missing_module\nsubprocess.run(['logpipe-missing-tool-b', '-x'])\n",
            "Tests/X/T.swift": 'let s = PrivateBroker.system("logpipe-missing-tool-c -f \'\\(file)\' > out")\n',
            # An image's build context: its entry point runs in the image, not here.
            "scripts/image/Dockerfile": "FROM debian:bookworm-slim\n",
            "scripts/image/entrypoint.sh": "#!/bin/sh\nexec logpipe-tool-of-the-image\n",
        }
        for name, text in files.items():
            with open(os.path.join(root, name), "w") as handle:
                handle.write(text)
        programs, failures = check(root)
        expected = {"bash", "sort", "/usr/bin/env", "grep", "sed", "logpipe-missing-tool-a", "logpipe-missing-tool-b",
                    "logpipe-missing-tool-c", "python3:logpipe_missing_module"}
        problems = []
        if set(programs) != expected:
            problems.append(f"found {sorted(programs)}, expected {sorted(expected)}")
        failed = {line.split(":")[0] for line in failures}
        if failed != {"logpipe-missing-tool-a", "logpipe-missing-tool-b", "logpipe-missing-tool-c", "python3"}:
            problems.append(f"failures named {sorted(failed)}: {failures}")
        with open(os.path.join(root, "scripts", "setup.sh"), "w") as handle:
            handle.write("packages=()\n")
        with open(os.path.join(root, "scripts", "base-image-packages.txt"), "w") as handle:
            handle.write("bash\n")
        _, failures = check(root)
        if not any(line.startswith("sort:") and "coreutils" in line for line in failures):
            problems.append(f"a program of a package neither in the base image nor in setup.sh passed: {failures}")
    for problem in problems:
        print(f"check_tools self-test: {problem}", file=sys.stderr)
    print(f"check_tools self-test: {'failed' if problems else 'passed'}")
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list", action="store_true", help="print every program found and its provider")
    parser.add_argument("--self-test", action="store_true", help="check the checker")
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    options = parser.parse_args()
    if options.self_test:
        return self_test()
    programs, failures = check(options.root, show=options.list)
    for failure in failures:
        print(f"check_tools: {failure}", file=sys.stderr)
    print(f"check_tools: {len(programs)} programs invoked by scripts and tests, {len(failures)} not provided")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

/// One step of a compiled pattern.
enum RegexInstruction: Sendable {
    /// Consume one scalar in the set.
    case set(ScalarSet)
    /// Continue at both targets.
    case split(Int, Int)
    case jump(Int)
    /// Continue only where the assertion holds between the previous and the next scalar.
    case assert(RegexNode.Assertion)
    case match
}

extension RegexNode {
    /// The zero-width assertions.
    enum Assertion: Sendable {
        case lineStart, lineEnd, textStart, textEnd, wordBoundary, notWordBoundary
    }
}

/// Thompson's construction: each node of the parsed pattern becomes a few instructions, repetitions expanded
/// (`{2,4}` is two copies and two optional ones), within ``LinearRegex/maxProgramSize``.
struct RegexCompiler {
    var program: [RegexInstruction] = []

    mutating func emit(_ node: RegexNode) throws(RegexError) {
        guard program.count <= LinearRegex.maxProgramSize else {
            throw RegexError("the pattern is too large once its repetitions are expanded (at most \(LinearRegex.maxProgramSize) steps)")
        }
        switch node {
        case .empty: break
        case .set(let set): program.append(.set(set))
        case .concat(let nodes): for item in nodes { try emit(item) }
        case .alternate(let branches):
            var exits: [Int] = []
            for (position, branch) in branches.enumerated() {
                if position < branches.count - 1 {
                    let split = program.count
                    program.append(.split(split + 1, -1))
                    try emit(branch)
                    exits.append(program.count)
                    program.append(.jump(-1))
                    program[split] = .split(split + 1, program.count)
                } else {
                    try emit(branch)
                }
            }
            for exit in exits { program[exit] = .jump(program.count) }
        case .repeat(let inner, let low, let high):
            for _ in 0..<low { try emit(inner) }
            if let high {
                var splits: [Int] = []
                for _ in low..<high {
                    splits.append(program.count)
                    program.append(.split(program.count + 1, -1))
                    try emit(inner)
                }
                for split in splits { program[split] = .split(split + 1, program.count) }
            } else {
                let loop = program.count
                program.append(.split(loop + 1, -1))
                try emit(inner)
                program.append(.jump(loop))
                program[loop] = .split(loop + 1, program.count)
            }
        case .lineStart: program.append(.assert(.lineStart))
        case .lineEnd: program.append(.assert(.lineEnd))
        case .textStart: program.append(.assert(.textStart))
        case .textEnd: program.append(.assert(.textEnd))
        case .wordBoundary(let positive): program.append(.assert(positive ? .wordBoundary : .notWordBoundary))
        }
        guard program.count <= LinearRegex.maxProgramSize else {
            throw RegexError("the pattern is too large once its repetitions are expanded (at most \(LinearRegex.maxProgramSize) steps)")
        }
    }
}

/// Runs a program over a text one scalar at a time, keeping the set of live instruction positions (each at most
/// once): time O(text × program), no backtracking, no captures.
struct PikeVM {
    let program: [RegexInstruction]
    private var marks: [UInt32]
    private var generation: UInt32 = 0
    private var stack: [Int] = []

    init(program: [RegexInstruction]) {
        self.program = program
        marks = Array(repeating: 0, count: program.count)
    }

    /// Whether the program reaches `match` on some part of the text (from its start when `anchored`).
    mutating func run(_ text: String, anchored: Bool) -> Bool {
        var scalars = text.unicodeScalars.makeIterator()
        var scalar = scalars.next()
        var current: [Int] = []
        var next: [Int] = []
        generation += 1
        if add(0, into: &current, previous: nil, next: scalar) { return true }
        while let consumed = scalar {
            let following = scalars.next()
            generation += 1
            next.removeAll(keepingCapacity: true)
            for pc in current {
                guard case .set(let set) = program[pc], set.contains(consumed) else { continue }
                if add(pc + 1, into: &next, previous: consumed, next: following) { return true }
            }
            if !anchored, add(0, into: &next, previous: consumed, next: following) { return true }
            swap(&current, &next)
            if anchored && current.isEmpty { return false }
            scalar = following
        }
        return false
    }

    /// Adds `start` and everything reachable from it without consuming a scalar; true when that reaches `match`.
    private mutating func add(_ start: Int, into list: inout [Int], previous: Unicode.Scalar?, next: Unicode.Scalar?) -> Bool {
        stack.removeAll(keepingCapacity: true)
        stack.append(start)
        while let pc = stack.popLast() {
            if marks[pc] == generation { continue }
            marks[pc] = generation
            switch program[pc] {
            case .jump(let target): stack.append(target)
            case .split(let first, let second):
                stack.append(second)
                stack.append(first)
            case .assert(let assertion):
                if Self.holds(assertion, previous: previous, next: next) { stack.append(pc + 1) }
            case .match: return true
            case .set: list.append(pc)
            }
        }
        return false
    }

    static func holds(_ assertion: RegexNode.Assertion, previous: Unicode.Scalar?, next: Unicode.Scalar?) -> Bool {
        switch assertion {
        case .textStart: return previous == nil
        case .textEnd: return next == nil
        case .lineStart: return previous == nil || previous == "\n"
        case .lineEnd: return next == nil || next == "\n"
        case .wordBoundary, .notWordBoundary:
            let before = previous.map(ScalarSet.word.contains) ?? false
            let after = next.map(ScalarSet.word.contains) ?? false
            return (before != after) == (assertion == .wordBoundary)
        }
    }
}

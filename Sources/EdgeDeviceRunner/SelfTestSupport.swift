import Kernels

/// A small deterministic generator (SplitMix64), as Tests/KernelsTests uses, so that a failing
/// shape on a board can be replayed anywhere with the same seed.
struct SelfTestGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `count` floats uniform in `range` (at least one, so that pointers are never dangling).
    mutating func floats(_ count: Int, in range: ClosedRange<Float> = -1...1) -> [Float] {
        var values: [Float] = []
        values.reserveCapacity(max(count, 1))
        for _ in 0..<max(count, 1) { values.append(Float.random(in: range, using: &self)) }
        return values
    }

    mutating func int(in range: ClosedRange<Int>) -> Int {
        Int.random(in: range, using: &self)
    }
}

/// One kernel's comparison over many shapes: the largest error seen and the first failure.
struct KernelCheck {
    let name: String
    let path: String
    /// How the error is judged, printed after it: "exact", "FMA-order bound", "1e-5"...
    let criterion: String
    /// Comparisons made: shapes times pool sizes, layouts and levels.
    var shapes = 0
    var maximumError: Float = 0
    var failure: String?

    init(_ name: String, path: String, criterion: String) {
        self.name = name
        self.path = path
        self.criterion = criterion
    }

    /// Compares element by element; `bound(i)` is the allowed |actual - expected| (0: bit-exact,
    /// where NaN must meet NaN). `shape` names the case in a failure message.
    mutating func compare(_ expected: [Float], _ actual: [Float], shape: String, bound: (Int) -> Float) {
        shapes += 1
        guard expected.count == actual.count else {
            fail("\(shape): \(actual.count) outputs, expected \(expected.count)")
            return
        }
        for index in 0..<expected.count {
            if expected[index].bitPattern == actual[index].bitPattern || (expected[index].isNaN && actual[index].isNaN) { continue }
            let allowed = bound(index)
            let error = (actual[index] - expected[index]).magnitude
            if error.isNaN || error > allowed {
                fail("\(shape): element \(index) is \(actual[index]), expected \(expected[index]) (allowed error \(allowed))")
                if error.isNaN { maximumError = .nan } else { maximumError = max(maximumError, error) }
                return
            }
            maximumError = max(maximumError, error)
        }
    }

    /// Integer outputs: equal or not; the error is the largest absolute difference.
    mutating func compareExactly(_ expected: [Int8], _ actual: [Int8], shape: String) {
        shapes += 1
        guard expected.count == actual.count else {
            fail("\(shape): \(actual.count) outputs, expected \(expected.count)")
            return
        }
        for index in 0..<expected.count where expected[index] != actual[index] {
            maximumError = max(maximumError, Float((Int(actual[index]) - Int(expected[index])).magnitude))
            if failure == nil {
                fail("\(shape): element \(index) is \(actual[index]), expected \(expected[index])")
            }
        }
    }

    /// Runs `kernel` at each of `levels` with each self-test pool and compares its int8 output with
    /// `expected` exactly; failures name `shape`, the level and the thread count.
    mutating func compareExactlyAtEveryLevel(_ expected: [Int8], levels: [KernelLevel], shape: String,
                                             _ kernel: (inout [Int8], ThreadPool?) -> Void) {
        for level in levels {
            for pool in selfTestPools {
                var actual = [Int8](repeating: 0x55, count: expected.count)
                KernelDispatch.withLevel(level) { kernel(&actual, pool) }
                compareExactly(expected, actual, shape: "\(shape), \(level.name), \(pool?.threadCount ?? 1) threads")
            }
        }
    }

    mutating func fail(_ message: String) {
        if failure == nil { failure = message }
    }
}

/// All checks of one run: prints each as it completes and the verdict at the end.
struct SelfTestSuite {
    let seed: UInt64
    var kernels = 0
    var failures: [String] = []

    init(seed: UInt64) {
        self.seed = seed
    }

    /// A generator for one kernel, derived from the run's seed and the kernel's name so that
    /// adding a kernel does not change the shapes of the others.
    func generator(for name: String) -> SelfTestGenerator {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return SelfTestGenerator(seed: seed ^ hash)
    }

    mutating func report(_ check: KernelCheck) {
        kernels += 1
        let verdict = check.failure == nil ? "PASS" : "FAIL"
        print("\(verdict) \(padded(check.name, 32)) \(padded(check.path, 22)) \(padded("\(check.shapes) cases", 10)) "
            + "max error \(check.maximumError)  (\(check.criterion))")
        if let failure = check.failure {
            print("     \(failure)")
            failures.append(check.name)
        }
    }

    /// The summary line; the process's exit status.
    func finish() -> Int32 {
        if failures.isEmpty {
            print("selftest: all \(kernels) kernels pass")
            return 0
        }
        var names = ""
        for (index, name) in failures.enumerated() { names += (index == 0 ? "" : ", ") + name }
        print("selftest: \(failures.count) of \(kernels) kernels FAIL: \(names) (seed \(seed))")
        return 1
    }
}

/// The pools every parallel kernel is run with: results must not depend on the thread count.
let selfTestPools: [ThreadPool?] = [nil, ThreadPool(threadCount: 2), ThreadPool(threadCount: 3)]

/// Shape dimensions that sit on and around the 6x16 tile's edges, plus the degenerate ones.
let tileEdgeRows = [0, 1, 5, 6, 7, 12, 13]
let tileEdgeColumns = [0, 1, 8, 15, 16, 17, 33]
let oddDepths = [0, 1, 3, 7, 16, 31, 64]

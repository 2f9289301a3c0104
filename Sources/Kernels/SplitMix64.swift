/// SplitMix64 (Steele, Lea and Flood 2014; the generator Java's SplittableRandom and xoshiro's
/// seeding use): a 64-bit state advanced by the golden-ratio increment and mixed into each output.
///
/// EdgeDETR owns its random numbers (synthetic dataset, tests, benchmarks, device self-tests) so that
/// the same seed gives the same values on every platform and Swift version;
/// `SystemRandomNumberGenerator` is not seedable and the standard library's `random(in:using:)`
/// algorithms are not promised to stay fixed. Libc-free, so Embedded builds use it too.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// The output function: a bijective avalanche of 64 bits, also used to derive stream seeds.
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A double in [0, 1) with 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// A double in [lower, upper).
    public mutating func uniform(_ lower: Double, _ upper: Double) -> Double { lower + (upper - lower) * unit() }

    /// An integer in `range`, by multiply-high (the bias, below 2^-32 for small ranges, is irrelevant
    /// here and the result is fixed by the seed).
    public mutating func integer(in range: ClosedRange<Int>) -> Int {
        let span = UInt64(range.upperBound - range.lowerBound) + 1
        return range.lowerBound + Int(next().multipliedFullWidth(by: span).high)
    }

    /// True with probability `probability`.
    public mutating func chance(_ probability: Double) -> Bool { unit() < probability }

    /// An approximately normal value (Irwin-Hall of four uniforms, scaled to unit variance).
    public mutating func normal() -> Double { (unit() + unit() + unit() + unit() - 2) * 1.7320508075688772 }
}

/// The limits every model must stay within, whether it comes from a model file or is built from a
/// checkpoint. They are sized to the largest real detectors with headroom (an R101 backbone at
/// 1333x1333 needs an arena of a few hundred MB), not to what memory happens to allow, so that a
/// file claiming more is refused with an error naming the limit before anything is allocated for
/// it. docs/FORMAT.md "Limits" lists the same table, with the format's count limits.
public enum RuntimeLimits {
    /// Pixels per side of the model input (and of a preprocessing resize target).
    public static let maximumInputSide = 4096
    /// Elements of any one value, activation or constant (4 Gi; shape arithmetic stays far from overflow).
    public static let maximumValueElements = 1 << 32
    /// Bytes a run works in: the activation arena plus the kernels' scratch (1 GiB).
    public static let maximumWorkingBytes = 1 << 30
    /// Bytes of constants materialized at load: generated embeddings and weight-only int8 weights
    /// dequantized to float32, summed over the file (1 GiB; an R101 with every layer float is ~0.25).
    public static let maximumMaterializedBytes = 1 << 30
}

/// The product of `factors`, or nil when a factor is negative or the product overflows `Int`. Sizes
/// derived from a file, a config or a header go through this (or `checkedElementCount`) instead of
/// `*`, so a hostile number is an error to report, never a trap.
@inlinable
public func checkedProduct(_ factors: [Int]) -> Int? {
    var product = 1
    for factor in factors {
        guard factor >= 0 else { return nil }
        let (next, overflow) = product.multipliedReportingOverflow(by: factor)
        guard !overflow else { return nil }
        product = next
    }
    return product
}

/// `checkedProduct(a, b)` for two factors.
@inlinable
public func checkedProduct(_ a: Int, _ b: Int) -> Int? {
    guard a >= 0, b >= 0 else { return nil }
    let (product, overflow) = a.multipliedReportingOverflow(by: b)
    return overflow ? nil : product
}

/// `a + b` for two sizes, or nil when one is negative or the sum overflows `Int`.
@inlinable
public func checkedSum(_ a: Int, _ b: Int) -> Int? {
    guard a >= 0, b >= 0 else { return nil }
    let (sum, overflow) = a.addingReportingOverflow(b)
    return overflow ? nil : sum
}

/// The element count of `shape` if it is at most `RuntimeLimits.maximumValueElements`, else nil.
@inlinable
public func checkedElementCount(_ shape: [Int]) -> Int? {
    guard let count = checkedProduct(shape), count <= RuntimeLimits.maximumValueElements else { return nil }
    return count
}

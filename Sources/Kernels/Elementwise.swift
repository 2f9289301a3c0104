import CLibc
#if arch(x86_64) && canImport(KernelsAVX2)
import KernelsAVX2
#endif

/// The activation a kernel can fuse into its output, applied after bias and residual.
public enum FloatActivation: Sendable {
    case none, relu
}

extension FloatActivation {
    /// Applies the activation to one value; kernels call this on every output element.
    @inline(__always)
    func apply(_ value: Float) -> Float {
        switch self {
        case .none: return value
        case .relu: return value > 0 ? value : 0
        }
    }
}

// Softmax, sigmoid and PReLU on floats: each a scalar reference (libm `expf`) and a SIMD8 path
// (NEON on arm64, SSE2 on x86-64); the scalar level runs the references.
//
// Softmax and sigmoid's SIMD paths use the vector `exponential` (Cephes, relative error <= 2 ulp,
// inputs clamped to [-87.3, 88.3]) instead of `expf` (< 1 ulp). Bounds against the references, as
// tested (u = 2^-24, one ulp is at most 2u relative):
//   softmax over n: |fast - ref| <= (1.25·n + 16)·u·ref + 2^-125. Each exponential is within 6u of
//     expf's, the sums within (n + n/8 + 3)·u of each other (positive terms; sequential versus
//     blocked order), then a division and a multiply on each side. 2^-125 covers x - max below
//     -87.3, where `exponential` gives e^-87.3 ~ 1.2e-38 and expf a subnormal or 0.
//   sigmoid: |fast - ref| <= 12·u·ref + 2^-125 (6u from the exponential, two roundings a side;
//     below x = -88.3 `exponential(-x)` saturates at e^88.3 and the result at ~4.6e-39).
// PReLU is one compare and one multiply per element in both: equal bit for bit.

/// Softmax over consecutive groups of `groupSize` elements, in place. The group's maximum is
/// subtracted first so that exp never overflows. Groups are split over `pool` in blocks.
public func softmax(_ data: UnsafeMutablePointer<Float>, groups: Int, groupSize: Int, pool: ThreadPool? = nil) {
    if groupSize <= 0 || groups <= 0 { return }
    if KernelDispatch.current == .scalar {
        softmaxReference(data, groups: groups, groupSize: groupSize)
        return
    }
    let groupsPerTask = rowsPerNormalizationTask(columns: groupSize)
    runTasks((groups + groupsPerTask - 1) / groupsPerTask, pool: pool,
             SoftmaxJob(data: data, groups: groups, groupSize: groupSize, groupsPerTask: groupsPerTask,
                        level: KernelDispatch.current))
}

/// The tasks of one `softmax` call: `groupsPerTask` groups each, eight elements at a time (`softmaxGroups`,
/// on YMM registers from `.avx2` up).
private struct SoftmaxJob: ParallelJob {
    let data: UnsafeMutablePointer<Float>, groups: Int, groupSize: Int, groupsPerTask: Int, level: KernelLevel

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: SoftmaxJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        softmaxGroups(data, groups: task * groupsPerTask..<min(groups, (task + 1) * groupsPerTask), groupSize: groupSize, level: level)
    }
}

/// `softmaxGroups` on YMM registers from `.avx2` up (the same bits): what the `softmax` op runs, and the
/// int8 deformable sampling on its weights' logits.
@inline(__always)
func softmaxGroups(_ data: UnsafeMutablePointer<Float>, groups: Range<Int>, groupSize: Int, level: KernelLevel) {
    #if arch(x86_64) && canImport(KernelsAVX2)
    if level >= .avx2 {
        softmaxGroupsAVX2(data, groups: groups, groupSize: groupSize)
        return
    }
    #endif
    softmaxGroups(data, groups: groups, groupSize: groupSize)
}

/// The scalar reference of `softmax`: libm `expf`, sequential sums.
public func softmaxReference(_ data: UnsafeMutablePointer<Float>, groups: Int, groupSize: Int) {
    if groupSize <= 0 { return }
    for group in 0..<max(groups, 0) {
        let values = data + group * groupSize
        var maximum = values[0]
        for index in 1..<groupSize where values[index] > maximum {
            maximum = values[index]
        }
        var sum: Float = 0
        for index in 0..<groupSize {
            let exponential = expf(values[index] - maximum)
            values[index] = exponential
            sum += exponential
        }
        let inverseSum = 1 / sum
        for index in 0..<groupSize {
            values[index] *= inverseSum
        }
    }
}

/// Logistic sigmoid 1 / (1 + exp(-x)), in place.
public func sigmoid(_ data: UnsafeMutablePointer<Float>, count: Int) {
    if count <= 0 { return }
    if KernelDispatch.current == .scalar {
        sigmoidReference(data, count: count)
        return
    }
    var first = 0
    while first < count {
        let values = loadFloats(data + first, count: count - first)
        storeFloats(1 / (1 + exponential(-values)), data + first, count: count - first)
        first += 8
    }
}

/// The scalar reference of `sigmoid`: libm `expf`.
public func sigmoidReference(_ data: UnsafeMutablePointer<Float>, count: Int) {
    for index in 0..<max(count, 0) {
        data[index] = 1 / (1 + expf(-data[index]))
    }
}

/// max(x, 0), in place.
public func relu(_ data: UnsafeMutablePointer<Float>, count: Int) {
    for index in 0..<max(count, 0) where data[index] < 0 {
        data[index] = 0
    }
}

/// PReLU, in place: x >= 0 ? x : alpha[i % channels] * x. With `channels` 1 one alpha is shared
/// by all elements (PyTorch's default `nn.PReLU()`, as in DAB-DETR's FFN).
public func prelu(_ data: UnsafeMutablePointer<Float>, count: Int, alpha: UnsafePointer<Float>, channels: Int) {
    let channelCount = max(channels, 1)
    if count <= 0 { return }
    if KernelDispatch.current == .scalar || count % channelCount != 0 {
        preluReference(data, count: count, alpha: alpha, channels: channels)
        return
    }
    if channelCount == 1 {
        let shared = SIMD8<Float>(repeating: alpha[0])
        var first = 0
        while first < count {
            let values = loadFloats(data + first, count: count - first)
            storeFloats(values.replacing(with: shared * values, where: values .< 0), data + first, count: count - first)
            first += 8
        }
        return
    }
    for row in 0..<count / channelCount {
        let values = data + row * channelCount
        var first = 0
        while first < channelCount {
            let block = loadFloats(values + first, count: channelCount - first)
            let negative = loadFloats(alpha + first, count: channelCount - first) * block
            storeFloats(block.replacing(with: negative, where: block .< 0), values + first, count: channelCount - first)
            first += 8
        }
    }
}

/// The scalar reference of `prelu`.
public func preluReference(_ data: UnsafeMutablePointer<Float>, count: Int, alpha: UnsafePointer<Float>, channels: Int) {
    let channelCount = max(channels, 1)
    var channel = 0
    for index in 0..<max(count, 0) {
        let value = data[index]
        if value < 0 { data[index] = alpha[channel] * value }
        channel += 1
        if channel == channelCount { channel = 0 }
    }
}

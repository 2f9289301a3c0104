import CAllocationCounter
import EdgeRuntime
import Foundation
import Kernels
import Quantize
import Testing

/// "Inference allocates nothing after load": once a `GraphExecutor` is built and has run once,
/// `run(input:count:)` makes no heap allocation at all, on the float and on the int8 fixture graph,
/// on one thread and on pools of 2 and 3 (whose kernel calls reach the workers as `ParallelJob`s,
/// with nothing boxed), at the best kernel level and at the forced-scalar one. The kernels the
/// fixture does not exercise at full size (attention with 32-wide heads, int8 attention) are
/// counted on their own. CAllocationCounter sees every malloc-family call of the threads that run
/// the graph (the caller and any pool workers); other tests running meanwhile are not counted.
@Suite(.serialized, .enabled(if: edgedetr_allocation_counting_available() != 0, "AddressSanitizer owns malloc in this build"))
struct NoAllocationTests {
    static let model = "deformable_base"

    static func expectNoAllocations(_ count: Int, threads: Int) {
        #expect(count == 0, "\(count) heap allocations in a run with \(threads) threads")
    }

    @Test(arguments: [1, 2, 3])
    func floatRunAllocatesNothing(threads: Int) throws {
        let fixture = try GoldenFixture(Self.model)
        let quantizer = try Quantizer(folder: fixture.folder, height: 96, width: 128)
        let input = try quantizer.inputs([try PipelineGoldenTests.loadImage(0)])[0]
        let executor = try GraphExecutor(graph: quantizer.floatGraph, threads: threads)
        Self.expectNoAllocations(try Self.allocations(running: executor, on: input), threads: threads)
    }

    @Test(arguments: [1, 2, 3])
    func int8RunAllocatesNothing(threads: Int) throws {
        let fixture = try GoldenFixture(Self.model)
        let quantizer = try Quantizer(folder: fixture.folder, height: 96, width: 128)
        let images = try PipelineGoldenTests.images.indices.map { try PipelineGoldenTests.loadImage($0) }
        let result = try quantizer.quantize(images: images, options: QuantizationOptions(), threads: 1)
        #expect(result.graph.nodes.contains { $0.operation.kindName.hasPrefix("quantized") })
        let executor = try GraphExecutor(graph: result.graph, plan: result.plan, threads: threads)
        Self.expectNoAllocations(try Self.allocations(running: executor, on: try quantizer.inputs(images)[0]), threads: threads)
    }

    /// DAB-DETR's int8 graph: dynamic int8 attention in the encoder and decoder, sine embeddings of the anchors
    /// split over the pool, at the best level and the forced-scalar one.
    @Test(arguments: [1, 3])
    func dabDETRInt8RunAllocatesNothing(threads: Int) throws {
        let fixture = try GoldenFixture("dab_detr")
        let quantizer = try Quantizer(folder: fixture.folder, height: 96, width: 128)
        let images = try PipelineGoldenTests.images.indices.map { try PipelineGoldenTests.loadImage($0) }
        let result = try quantizer.quantize(images: images, options: QuantizationOptions(), threads: 1)
        #expect(result.graph.nodes.contains { $0.operation.kindName == "dynamicQuantizedAttention" })
        #expect(result.graph.nodes.contains { $0.operation.kindName == "sineEmbedding" })
        let executor = try GraphExecutor(graph: result.graph, plan: result.plan, threads: threads)
        let input = try quantizer.inputs(images)[0]
        Self.expectNoAllocations(try Self.allocations(running: executor, on: input), threads: threads)
        let scalar = try KernelDispatch.withLevel(.scalar) { try Self.allocations(running: executor, on: input) }
        Self.expectNoAllocations(scalar, threads: threads)
    }

    @Test(arguments: [1, 2])
    func scalarFloatRunAllocatesNothing(threads: Int) throws {
        let fixture = try GoldenFixture(Self.model)
        let quantizer = try Quantizer(folder: fixture.folder, height: 96, width: 128)
        let input = try quantizer.inputs([try PipelineGoldenTests.loadImage(0)])[0]
        let executor = try GraphExecutor(graph: quantizer.floatGraph, threads: threads)
        let count = try KernelDispatch.withLevel(.scalar) { try Self.allocations(running: executor, on: input) }
        Self.expectNoAllocations(count, threads: threads)
    }

    @Test(arguments: [1, 2])
    func scalarInt8RunAllocatesNothing(threads: Int) throws {
        let fixture = try GoldenFixture(Self.model)
        let quantizer = try Quantizer(folder: fixture.folder, height: 96, width: 128)
        let images = try PipelineGoldenTests.images.indices.map { try PipelineGoldenTests.loadImage($0) }
        let result = try quantizer.quantize(images: images, options: QuantizationOptions(), threads: 1)
        let executor = try GraphExecutor(graph: result.graph, plan: result.plan, threads: threads)
        let input = try quantizer.inputs(images)[0]
        let count = try KernelDispatch.withLevel(.scalar) { try Self.allocations(running: executor, on: input) }
        Self.expectNoAllocations(count, threads: threads)
    }

    @Test(arguments: [2, 3])
    func poolJobAllocatesNothing(threads: Int) {
        let pool = ThreadPool(threadCount: threads)
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        defer { hits.deallocate() }
        hits.initialize(repeating: 0, count: 64)
        let count = Self.allocations(on: pool) { pool.parallelFor(64, CountingJob(hits: hits)) }
        Self.expectNoAllocations(count, threads: threads)
        #expect((0..<64).allSatisfy { hits[$0] == 1 })
    }

    /// `multiHeadAttention` (heads of 32, so its per-task query panel is 2 KiB) and
    /// `int8MultiHeadAttention` with planned scratch, at the best and the scalar level.
    @Test(arguments: [1, 2, 3])
    func attentionKernelsAllocateNothing(threads: Int) {
        let (queries, keys, heads, dim) = (40, 70, 2, 32)
        let width = heads * dim
        let pool: ThreadPool? = threads > 1 ? ThreadPool(threadCount: threads) : nil
        var generator = SplitMix64(seed: 4)
        let floats = (0..<(queries + 2 * keys) * width).map { _ in Float(generator.next() % 2001) / 1000 - 1 }
        let bytes = (0..<(queries + 2 * keys) * width).map { _ in Int8(truncatingIfNeeded: generator.next()) }
        var scratch = [Float](repeating: 0, count: attentionScratchCount(queries: queries, keys: keys, heads: heads, queryHeadDim: dim, threads: threads))
        var output = [Float](repeating: 0, count: queries * width)
        var int8Output = [Int8](repeating: 0, count: queries * width)
        let int8Scratch = UnsafeMutableRawPointer.allocate(
            byteCount: int8AttentionScratchBytes(keys: keys, heads: heads, queryHeadDim: dim, valueHeadDim: dim), alignment: 64)
        defer { int8Scratch.deallocate() }
        let taskScratch = KernelScratch(bytesPerThread: int8AttentionTaskScratchBytes(keys: keys, queryHeadDim: dim, valueHeadDim: dim),
                                        threads: threads)
        floats.withUnsafeBufferPointer { floats in
            bytes.withUnsafeBufferPointer { bytes in
                let (q, k, v) = (floats.baseAddress!, floats.baseAddress! + queries * width, floats.baseAddress! + (queries + keys) * width)
                let operands = Int8AttentionOperands(
                    q: bytes.baseAddress!, qStride: width, qZeroPoint: 3, k: bytes.baseAddress! + queries * width, kStride: width,
                    kZeroPoint: -2, v: bytes.baseAddress! + (queries + keys) * width, vStride: width, vZeroPoint: 1)
                for level in [KernelDispatch.best, .scalar] {
                    let count = KernelDispatch.withLevel(level) {
                        Self.allocations(on: pool) {
                            multiHeadAttention(q: q, qStride: width, k: k, kStride: width, v: v, vStride: width, queries: queries,
                                               keys: keys, heads: heads, queryHeadDim: dim, valueHeadDim: dim, scale: 0.2,
                                               output: &output, scratch: &scratch, pool: pool)
                            int8MultiHeadAttention(operands, queries: queries, keys: keys, heads: heads, queryHeadDim: dim,
                                                   valueHeadDim: dim, scoreScale: 0.01, outputScale: 1.0 / 16_384,
                                                   outputRange: Int8OutputRange(zeroPoint: 0), output: &int8Output, pool: pool,
                                                   scratch: int8Scratch, taskScratch: taskScratch)
                        }
                    }
                    #expect(count == 0, "\(count) heap allocations in attention at level \(level.name) with \(threads) threads")
                }
            }
        }
    }

    /// The normalizations and elementwise kernels, float and int8, with their tables built
    /// beforehand (as at load), at the best and the scalar level.
    @Test(arguments: [1, 2, 3])
    func normalizationKernelsAllocateNothing(threads: Int) {
        let (rows, columns, groups) = (40, 64, 8)
        let count = rows * columns
        let pool: ThreadPool? = threads > 1 ? ThreadPool(threadCount: threads) : nil
        var generator = SplitMix64(seed: 9)
        var floats = (0..<count).map { _ in Float(generator.next() % 2001) / 1000 - 1 }
        let bytes = (0..<count).map { _ in Int8(truncatingIfNeeded: generator.next()) }
        let gamma = [Float](repeating: 1.5, count: columns), beta = [Float](repeating: 0.25, count: columns)
        var output = [Float](repeating: 0, count: count)
        var int8Output = [Int8](repeating: 0, count: count)
        let quantization = Int8Quantization(scale: 0.05, zeroPoint: 3)
        let sigmoidTable = Int8UnaryTable(.sigmoid, input: quantization, output: Int8Quantization(scale: 1.0 / 256, zeroPoint: -128))
        let softmaxTable = Int8SoftmaxTable(inputScale: quantization.scale)
        floats.withUnsafeMutableBufferPointer { floats in
            bytes.withUnsafeBufferPointer { bytes in
                let input = Int8Operand(values: bytes.baseAddress!, quantization: quantization)
                for level in [KernelDispatch.best, .scalar] {
                    let allocations = KernelDispatch.withLevel(level) {
                        Self.allocations(on: pool) {
                            layerNorm(input: floats.baseAddress!, residual: floats.baseAddress!, rows: rows, columns: columns,
                                      gamma: gamma, beta: beta, epsilon: 1e-5, output: &output, pool: pool)
                            groupNorm(input: floats.baseAddress!, pixels: rows, channels: columns, groups: groups, gamma: gamma,
                                      beta: beta, epsilon: 1e-5, output: &output, pool: pool)
                            softmax(&output, groups: count / 16, groupSize: 16, pool: pool)
                            sigmoid(&output, count: count)
                            prelu(&output, count: count, alpha: gamma, channels: columns)
                            int8LayerNorm(input: input, residual: input, rows: rows, columns: columns, gamma: gamma, beta: beta,
                                          epsilon: 1e-5, outputQuantization: quantization, output: &int8Output, pool: pool)
                            int8GroupNorm(input: input, pixels: rows, channels: columns, groups: groups, gamma: gamma, beta: beta,
                                          epsilon: 1e-5, outputQuantization: quantization, output: &int8Output, pool: pool)
                            int8Softmax(input: bytes.baseAddress!, groups: count / 16, groupSize: 16, table: softmaxTable,
                                        output: &output, pool: pool)
                            int8Unary(input: bytes.baseAddress!, count: count, table: sigmoidTable, output: &int8Output)
                            int8PReLU(input: bytes.baseAddress!, count: count, inputQuantization: quantization, alpha: gamma,
                                      channels: columns, outputQuantization: quantization, output: &int8Output)
                        }
                    }
                    #expect(allocations == 0, "\(allocations) heap allocations in the normalizations at level \(level.name) with \(threads) threads")
                }
            }
        }
    }

    /// Runs once to warm up, then counts the allocations of a second run.
    static func allocations(running executor: GraphExecutor, on input: [Float]) throws -> Int {
        try input.withUnsafeBufferPointer { buffer in
            try executor.run(input: buffer.baseAddress!, count: buffer.count)
            return try allocations(on: executor.pool) { try executor.run(input: buffer.baseAddress!, count: buffer.count) }
        }
    }

    /// The allocations `body` makes on the calling thread and the threads of `pool`.
    static func allocations(on pool: ThreadPool?, _ body: () throws -> Void) rethrows -> Int {
        countAllocations(onThreadsOf: pool, true)
        defer { countAllocations(onThreadsOf: pool, false) }
        edgedetr_reset_counted_allocations()
        try body()
        return edgedetr_counted_allocations()
    }

    /// Turns counting on or off for the calling thread and every thread of `pool`: one task per
    /// thread, each held at a barrier until all have arrived, so no thread takes two.
    static func countAllocations(onThreadsOf pool: ThreadPool?, _ enabled: Bool) {
        edgedetr_count_allocations_on_this_thread(enabled ? 1 : 0)
        guard let pool, pool.threadCount > 1 else { return }
        let barrier = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
        defer { barrier.deallocate() }
        pthread_barrier_init(barrier, nil, UInt32(pool.threadCount))
        defer { pthread_barrier_destroy(barrier) }
        pool.parallelFor(pool.threadCount) { _ in
            edgedetr_count_allocations_on_this_thread(enabled ? 1 : 0)
            pthread_barrier_wait(barrier)
        }
    }
}

/// Marks each task it runs (the pool test's job).
private struct CountingJob: ParallelJob {
    let hits: UnsafeMutablePointer<Int>

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: CountingJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) { hits[task] += 1 }
}

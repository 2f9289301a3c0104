import CAllocationCounter
import EdgeRuntime
import Foundation
import Kernels
import Quantize
import Testing

/// "Inference allocates nothing after load": once a `GraphExecutor` is built and has run once,
/// `run(input:count:)` makes no heap allocation at all, on the float and on the int8 fixture graph,
/// on one thread and on pools of 2 and 3 (whose kernel calls reach the workers as `ParallelJob`s,
/// with nothing boxed). CAllocationCounter sees every malloc-family call of the threads that run
/// the graph (the caller and any pool workers); other tests running meanwhile are not counted.
@Suite(.serialized) struct NoAllocationTests {
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

    /// Runs once to warm up, then counts the allocations of a second run.
    static func allocations(running executor: GraphExecutor, on input: [Float]) throws -> Int {
        try input.withUnsafeBufferPointer { buffer in
            try executor.run(input: buffer.baseAddress!, count: buffer.count)
            countAllocations(onThreadsOf: executor.pool, true)
            defer { countAllocations(onThreadsOf: executor.pool, false) }
            edgedetr_reset_counted_allocations()
            try executor.run(input: buffer.baseAddress!, count: buffer.count)
            return edgedetr_counted_allocations()
        }
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

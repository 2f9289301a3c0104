import ArgumentParser
import Foundation
import Kernels

/// `edgedetr bench-kernels`: int8 against fp32 kernels on the DETR shapes, as fractions of this
/// machine's measured peaks. Not a test: the machine is shared, so quote the ratios of one run.
struct BenchKernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-kernels",
        abstract: "Time the int8 and fp32 kernels (GEMM, conv, deformable core, attention) against the measured peaks.",
        discussion: """
            Measures the int8 and fp32 peak of one core with register-only loops (the int8 loop runs the \
            instruction of the level's int8 tile: VPDPBUSD at avxvnni, vpmaddwd at avx2, where two ceilings \
            follow: vpmaddwd alone, and the GEMM tile's vpmaddwd + vpaddd mix), then times int8 and fp32 \
            GEMM (M=5440 K=256 N=256, M=5440 K=256 N=1024, M=300 K=256 N=2048), conv 3x3 256->256 and 1x1 \
            1024->256 at 32x32, and the deformable core for 5440 queries x 8 heads x 4 levels x 4 points \
            (head dim 32, levels 64x64..8x8), multi-head attention at DETR shapes (256 and 1024 tokens, 300 \
            queries against 300 or 256 keys, 8 heads, query head dim 32 or 64, value head dim 32; int8 is the dynamic int8 \
            attention the quantizer emits: Q K^T and P V on the int8 tiles), and \
            depthwise convolutions at D-FINE-N's shapes. After one warm-up, --threads 1 keeps the best of --runs by the \
            thread's CPU time (a shared machine's waits for a core do not count); more threads keep the median \
            wall-clock time. Peaks are per core times --threads. EDGEDETR_KERNELS=scalar|simd|avx2|avxvnni picks the \
            kernel level.
            """
    )

    @Option(name: .long, help: "Worker threads (1 to 64).")
    var threads: Int = 1

    @Option(name: .long, help: "Timed runs per kernel (1 to 50).")
    var runs: Int = 5

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be from 1 to 64, got \(threads)") }
        guard (1...50).contains(runs) else { throw ValidationError("--runs must be from 1 to 50, got \(runs)") }
    }

    func run() throws {
        let pool: ThreadPool? = threads > 1 ? ThreadPool(threadCount: threads) : nil
        print("edgedetr bench-kernels --threads \(threads) --runs \(runs)   (kernel level: \(KernelDispatch.current.name); "
              + (threads == 1 ? "best of \(runs) by thread CPU time)" : "median wall-clock time)"))
        let int8Peak = Double(threads) * oneCorePeakGMACs(macsPerIteration: Int8PeakLoops.int8MACsPerIteration) {
            _ = Int8PeakLoops.int8(iterations: $0, seed: 3)
        }
        let floatPeak = Double(threads) * oneCorePeakGMACs(macsPerIteration: Int8PeakLoops.floatMACsPerIteration) {
            _ = Int8PeakLoops.float(iterations: $0, seed: 0.5)
        }
        print(String(format: "peak (register-only, %d core%@): int8 %.1f GMAC/s, fp32 %.1f GMAC/s, int8/fp32 %.2fx",
                     threads, threads > 1 ? "s" : "", int8Peak, floatPeak, int8Peak / floatPeak)
              + " (int8 GEMM \(Int8GEMMKernel.choose(for: .native).name))")
        // What bounds the int8 GEMM: the multiplier alone, and the tile's own vpmaddwd + vpaddd mix.
        var mixCeiling: Double?
        if Int8PeakLoops.hasInt8Ceilings {
            let multiplyOnly = Double(threads) * oneCorePeakGMACs(macsPerIteration: 128) {
                _ = Int8PeakLoops.int8(.multiplyOnly, iterations: $0, seed: 3)
            }
            let mix = Double(threads) * oneCorePeakGMACs(macsPerIteration: 128) {
                _ = Int8PeakLoops.int8(.multiplyAccumulateFromL1, iterations: $0, seed: 3)
            }
            mixCeiling = mix
            print(String(format: "int8 ceilings: vpmaddwd alone %.1f GMAC/s; vpmaddwd + vpaddd 1:1, multiplier from L1 "
                         + "(the tile's mix) %.1f GMAC/s", multiplyOnly, mix))
        }
        print("| kernel | int8 ms | int8 GMAC/s | % int8 peak | % int8 mix ceiling | fp32 ms | fp32 GMAC/s | % fp32 peak | int8 speed-up |")
        print("|---|---|---|---|---|---|---|---|---|")
        for (m, k, n) in [(5440, 256, 256), (5440, 256, 1024), (300, 256, 2048)] {
            let (int8Time, floatTime) = gemm(m: m, k: k, n: n, pool: pool)
            report("GEMM M=\(m) K=\(k) N=\(n)", macs: Double(m * k * n), int8Time, floatTime, int8Peak, mixCeiling, floatPeak)
        }
        // The decoder's heads at 300 queries: rows quantized at run time (dynamicQuantizedLinear) against fp32.
        for n in [256, 4] {
            let (int8Time, floatTime) = dynamicLinear(m: 300, k: 256, n: n, pool: pool)
            report("dynamic int8 linear M=300 K=256 N=\(n)", macs: Double(300 * 256 * n), int8Time, floatTime, int8Peak, mixCeiling, floatPeak)
        }
        for (kernel, inputChannels) in [(3, 256), (1, 1024)] {
            let shape = Conv2DShape(inputHeight: 32, inputWidth: 32, inputChannels: inputChannels, outputChannels: 256,
                                    kernelHeight: kernel, kernelWidth: kernel, stride: 1, padding: kernel / 2)
            let (int8Time, floatTime) = conv(shape, pool: pool)
            report("conv \(kernel)x\(kernel) \(inputChannels)->256 32x32", macs: Double(32 * 32 * 256 * kernel * kernel * inputChannels),
                   int8Time, floatTime, int8Peak, mixCeiling, floatPeak)
        }
        let (int8Time, floatTime) = deformable(pool: pool)
        print(String(format: "| deformable core 5440q x 8h x 4l x 4p, d=32 | %.2f | - | - | - | %.2f | - | - | %.2fx |",
                     int8Time * 1e3, floatTime * 1e3, floatTime / int8Time))
        // Attention at DETR shapes: an R50 encoder at 512x512 (256 tokens), a decoder's self- and
        // cross-attention (300 queries; DAB/Conditional concatenate content and position: d=64).
        let valueHeadDim = 32
        for (queries, keys, heads, queryHeadDim) in [(256, 256, 8, 32), (300, 300, 8, 32), (300, 256, 8, 64), (1024, 1024, 8, 32)] {
            let (int8Time, floatTime) = attention(queries: queries, keys: keys, heads: heads, queryHeadDim: queryHeadDim,
                                                  valueHeadDim: valueHeadDim, pool: pool)
            let macs = Double(queries * keys * heads * (queryHeadDim + valueHeadDim))
            report("dynamic int8 attention \(queries)q x \(keys)k x \(heads)h, d=\(queryHeadDim)/\(valueHeadDim)", macs: macs, int8Time, floatTime,
                   int8Peak, mixCeiling, floatPeak)
        }
        depthwiseTable(pool: pool)
    }

    /// Depthwise convolutions (HGNetV2, D-FINE's SCDown) do k^2 MACs per output byte: memory-bound, so they
    /// are reported as the bytes they read and write per second against a copy of the same bytes (memcpy).
    func depthwiseTable(pool: ThreadPool?) {
        print()
        print("| depthwise (D-FINE-N shapes) | int8 ms | int8 GMAC/s | int8 GB/s | % of copy | fp32 ms | fp32 GB/s | % of copy | copy GB/s |")
        print("|---|---|---|---|---|---|---|---|---|")
        for (size, channels, kernel, stride) in [(160, 64, 3, 2), (40, 64, 5, 1), (80, 256, 3, 2), (20, 512, 5, 1)] {
            let outputSize = convolutionOutputLength(size, kernel: kernel, stride: stride, padding: kernel / 2)
            let (inputCount, outputCount) = (size * size * channels, outputSize * outputSize * channels)
            let input = randomBytes(inputCount, seed: 5), weights = randomBytes(kernel * kernel * channels, seed: 6)
            let bias = [Int32](repeating: 100, count: channels), scales = [Float](repeating: 1.0 / 4096, count: channels)
            var output = [Int8](repeating: 0, count: outputCount)
            // With the padded copy the runtime gives it (from the shared scratch).
            var padded = [Int8](repeating: 0, count: int8DepthwisePaddedBytes(height: size, width: size, channels: channels,
                                                                              padding: kernel / 2))
            let int8Time = measure {
                padded.withUnsafeMutableBufferPointer { buffer in
                    int8DepthwiseConv2d(input: input, inputZeroPoint: 3, height: size, width: size, channels: channels, weight: weights,
                                        bias: bias, scales: scales, kernel: kernel, stride: stride, padding: kernel / 2,
                                        outputRange: Int8OutputRange(zeroPoint: -5, relu: true), output: &output,
                                        padded: buffer.baseAddress, pool: pool)
                }
            }
            let floatInput = input.map { Float($0) / 128 }, floatWeights = weights.map { Float($0) / 128 }
            let floatBias = [Float](repeating: 0.1, count: channels)
            var floatOutput = [Float](repeating: 0, count: outputCount)
            let floatTime = measure {
                depthwiseConv2d(input: floatInput, height: size, width: size, channels: channels, weight: floatWeights, bias: floatBias,
                                kernel: kernel, stride: stride, padding: kernel / 2, relu: true, output: &floatOutput, pool: pool)
            }
            // The copy: the same bytes read and written (input + output), memcpy on this thread.
            let copyBytes = inputCount * 4 + outputCount * 4
            var source = [UInt8](repeating: 1, count: copyBytes), destination = [UInt8](repeating: 0, count: copyBytes)
            let copyTime = measure {
                destination.withUnsafeMutableBytes { to in source.withUnsafeMutableBytes { from in
                    _ = memcpy(to.baseAddress!, from.baseAddress!, copyBytes / 2)
                } }
            }
            let copyRate = Double(copyBytes) / copyTime / 1e9
            let int8Rate = Double(inputCount + outputCount) / int8Time / 1e9
            let floatRate = Double(4 * (inputCount + outputCount)) / floatTime / 1e9
            let macs = Double(outputCount * kernel * kernel)
            print(String(format: "| %dx%dx%d k%d s%d | %.3f | %.1f | %.1f | %.0f%% | %.3f | %.1f | %.0f%% | %.1f |", size, size, channels,
                         kernel, stride, int8Time * 1e3, macs / int8Time / 1e9, int8Rate, 100 * int8Rate / copyRate, floatTime * 1e3,
                         floatRate, 100 * floatRate / copyRate, copyRate))
        }
    }

    func report(_ name: String, macs: Double, _ int8Time: Double, _ floatTime: Double, _ int8Peak: Double,
                _ mixCeiling: Double?, _ floatPeak: Double) {
        let int8Rate = macs / int8Time / 1e9, floatRate = macs / floatTime / 1e9
        let mix = mixCeiling.map { String(format: "%.0f%%", 100 * int8Rate / $0) } ?? "-"
        print(String(format: "| %@ | %.2f | %.1f | %.0f%% | %@ | %.2f | %.1f | %.0f%% | %.2fx |", name, int8Time * 1e3, int8Rate,
                     100 * int8Rate / int8Peak, mix, floatTime * 1e3, floatRate, 100 * floatRate / floatPeak,
                     floatTime / int8Time))
    }

    /// Seconds per call after one warm-up: with one thread (all work on this thread) the best of
    /// `runs` by this thread's CPU time, so that time spent waiting for a core on a shared machine
    /// does not count; with a pool, the median wall-clock time of `runs`.
    func measure(_ body: () -> Void) -> Double {
        body()
        if threads == 1 {
            return (0..<runs).map { _ in seconds(CLOCK_THREAD_CPUTIME_ID, body) }.min()!
        }
        let times = (0..<runs).map { _ in seconds(CLOCK_MONOTONIC, body) }.sorted()
        return times[times.count / 2]
    }

    func seconds(_ clock: clockid_t, _ body: () -> Void) -> Double {
        var start = timespec(), end = timespec()
        clock_gettime(clock, &start)
        body()
        clock_gettime(clock, &end)
        return Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) * 1e-9
    }

    func randomBytes(_ count: Int, seed: UInt64) -> [Int8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int8(truncatingIfNeeded: state >> 33)
        }
    }

    func gemm(m: Int, k: Int, n: Int, pool: ThreadPool?) -> (Double, Double) {
        let input = randomBytes(m * k, seed: 1), weights = randomBytes(n * k, seed: 2)
        let scales = [Float](repeating: 1.0 / 4096, count: n)
        let packed = PackedInt8Weights(weights: weights, outputs: n, inputs: k, bias: nil, scales: scales, inputZeroPoint: 3,
                                       layout: .native)
        var output = [Int8](repeating: 0, count: m * n)
        let int8Time = measure {
            output.withUnsafeMutableBufferPointer { destination in
                int8Linear(input: input, rows: m, inputStride: k, weights: packed, residual: nil,
                           output: .int8(destination.baseAddress!, Int8OutputRange(zeroPoint: 0)), pool: pool)
            }
        }
        let floatInput = input.map { Float($0) / 128 }, floatWeights = weights.map { Float($0) / 128 }
        let floatPacked = PackedLinearWeights(weights: floatWeights, outputs: n, inputs: k)
        var floatOutput = [Float](repeating: 0, count: m * n)
        let floatTime = measure {
            linear(input: floatInput, rows: m, inputStride: k, weights: floatPacked, bias: nil, residual: nil,
                   activation: .none, output: &floatOutput, pool: pool)
        }
        return (int8Time, floatTime)
    }

    /// `dynamicInt8Linear` (float in and out, bias, rows quantized at run time) and the fp32 `linear` on the same values.
    func dynamicLinear(m: Int, k: Int, n: Int, pool: ThreadPool?) -> (Double, Double) {
        let input = randomBytes(m * k, seed: 1).map { Float($0) / 64 }, weights = randomBytes(n * k, seed: 2)
        let scales = [Float](repeating: 1.0 / 4096, count: n), bias = [Float](repeating: 0.5, count: n)
        let packed = PackedInt8Weights(weights: weights, outputs: n, inputs: k, bias: nil, scales: scales, inputZeroPoint: 0,
                                       layout: .native)
        var output = [Float](repeating: 0, count: m * n), codes = [Int8](repeating: 0, count: m * k)
        var rowScales = [Float](repeating: 0, count: m)
        let scratch = KernelScratch(bytesPerThread: int8GEMMTaskScratchBytes(packed), threads: pool?.threadCount ?? 1)
        let int8Time = measure {
            dynamicInt8Linear(input: input, rows: m, inputStride: k, weights: packed, bias: bias, residual: nil, activation: .none,
                              output: &output, codes: &codes, rowScales: &rowScales, pool: pool, taskScratch: scratch)
        }
        let floatPacked = PackedLinearWeights(weights: weights.map { Float($0) / 4096 }, outputs: n, inputs: k)
        let floatTime = measure {
            linear(input: input, rows: m, inputStride: k, weights: floatPacked, bias: bias, residual: nil,
                   activation: .none, output: &output, pool: pool)
        }
        return (int8Time, floatTime)
    }

    func conv(_ shape: Conv2DShape, pool: ThreadPool?) -> (Double, Double) {
        let inputCount = shape.inputHeight * shape.inputWidth * shape.inputChannels
        let weightCount = shape.outputChannels * shape.inputChannels * shape.kernelHeight * shape.kernelWidth
        let input = randomBytes(inputCount, seed: 3), weights = randomBytes(weightCount, seed: 4)
        let scales = [Float](repeating: 1.0 / 8192, count: shape.outputChannels)
        let packed = PackedInt8Conv2DWeights(weights: weights, shape: shape, bias: nil, scales: scales, inputZeroPoint: -128,
                                             layout: .native)
        let outputCount = shape.outputHeight * shape.outputWidth * shape.outputChannels
        var output = [Int8](repeating: 0, count: outputCount)
        let int8Time = measure {
            output.withUnsafeMutableBufferPointer { destination in
                int8Conv2d(input: input, weights: packed, residual: nil,
                           output: .int8(destination.baseAddress!, Int8OutputRange(zeroPoint: -128, relu: true)), pool: pool)
            }
        }
        let floatInput = input.map { Float($0) / 128 }, floatWeights = weights.map { Float($0) / 128 }
        let floatPacked = PackedConv2DWeights(weights: floatWeights, shape: shape)
        var floatOutput = [Float](repeating: 0, count: outputCount)
        let floatTime = measure {
            conv2d(input: floatInput, weights: floatPacked, bias: nil, residual: nil, activation: .relu, output: &floatOutput,
                   scratch: nil, pool: pool)
        }
        return (int8Time, floatTime)
    }

    /// dynamicInt8Attention (what `dynamicQuantizedAttention` runs: Q K^T and P V on the int8 tiles) against the float multiHeadAttention on the same shapes and values, each with its scratch
    /// allocated before the timing, as the executor plans it.
    func attention(queries: Int, keys: Int, heads: Int, queryHeadDim: Int, valueHeadDim: Int, pool: ThreadPool?) -> (Double, Double) {
        let q = randomBytes(queries * heads * queryHeadDim, seed: 11), k = randomBytes(keys * heads * queryHeadDim, seed: 12)
        let v = randomBytes(keys * heads * valueHeadDim, seed: 13)
        let (fq, fk, fv) = (q.map { Float($0) / 64 }, k.map { Float($0) / 64 }, v.map { Float($0) / 64 })
        let scale = 1 / Float(queryHeadDim).squareRoot()
        var output = [Float](repeating: 0, count: queries * heads * valueHeadDim)
        let sharedBytes = dynamicInt8AttentionScratchBytes(queries: queries, keys: keys, heads: heads, queryHeadDim: queryHeadDim,
                                                           valueHeadDim: valueHeadDim)
        let shared = UnsafeMutableRawPointer.allocate(byteCount: max(sharedBytes, 1), alignment: 64)
        defer { shared.deallocate() }
        let taskBytes = dynamicInt8AttentionTaskScratchBytes(keys: keys, queryHeadDim: queryHeadDim, valueHeadDim: valueHeadDim)
        let taskScratch = KernelScratch(bytesPerThread: taskBytes, threads: pool?.threadCount ?? 1)
        let int8Time = measure {
            dynamicInt8Attention(q: fq, qStride: heads * queryHeadDim, k: fk, kStride: heads * queryHeadDim, v: fv,
                                 vStride: heads * valueHeadDim, queries: queries, keys: keys, heads: heads, queryHeadDim: queryHeadDim,
                                 valueHeadDim: valueHeadDim, scale: scale, output: &output, scratch: shared,
                                 taskScratch: taskScratch, pool: pool)
        }
        var floatOutput = [Float](repeating: 0, count: queries * heads * valueHeadDim)
        var scratch = [Float](repeating: 0, count: attentionScratchCount(queries: queries, keys: keys, heads: heads,
                                                                         queryHeadDim: queryHeadDim, threads: threads))
        let floatTime = measure {
            multiHeadAttention(q: fq, qStride: heads * queryHeadDim, k: fk, kStride: heads * queryHeadDim, v: fv,
                               vStride: heads * valueHeadDim, queries: queries, keys: keys, heads: heads, queryHeadDim: queryHeadDim,
                               valueHeadDim: valueHeadDim, scale: scale, output: &floatOutput,
                               scratch: &scratch, pool: pool)
        }
        return (int8Time, floatTime)
    }

    func deformable(pool: ThreadPool?) -> (Double, Double) {
        let (queries, heads, levels, points, headDim) = (5440, 8, 4, 4, 32)
        let levelShapes = [64, 64, 32, 32, 16, 16, 8, 8], levelStarts = [0, 4096, 5120, 5376]
        let value = randomBytes(5440 * heads * headDim, seed: 5)
        var state: UInt64 = 9
        func uniform() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24)
        }
        let samples = queries * heads * levels * points
        let levelPoints = Array(repeating: points, count: levels)
        let locations = (0..<(2 * samples)).map { _ in uniform() * 1.1 - 0.05 }
        let weights = (0..<samples).map { _ in uniform() / 16 }
        var output = [Int8](repeating: 0, count: queries * heads * headDim)
        let int8Time = measure {
            int8DeformableAttention(value: value, valueZeroPoint: 2, levelShapes: levelShapes, levelStarts: levelStarts,
                                    levels: levels, heads: heads, headDim: headDim, levelPoints: levelPoints, queries: queries,
                                    locations: locations, weights: weights, outputScale: 1.0 / 16_384,
                                    outputRange: Int8OutputRange(zeroPoint: 0), output: &output, pool: pool)
        }
        let floatValue = value.map { Float($0) / 128 }
        var floatOutput = [Float](repeating: 0, count: queries * heads * headDim)
        let floatTime = measure {
            deformableAttention(value: floatValue, levelShapes: levelShapes, levelStarts: levelStarts, levels: levels,
                                heads: heads, headDim: headDim, levelPoints: levelPoints, queries: queries, locations: locations,
                                weights: weights, output: &floatOutput, pool: pool)
        }
        return (int8Time, floatTime)
    }
}

/// GMAC/s of a one-core register-only loop (`Int8PeakLoops`): the best of 5 runs of a few ms, by the
/// thread's CPU time, so a shared machine's waits for a core do not count. `bench` and `bench-kernels`.
func oneCorePeakGMACs(macsPerIteration: Int, _ loop: (Int) -> Void) -> Double {
    let iterations = 2_000_000
    var best = Double.infinity
    for _ in 0..<5 {
        var start = timespec(), end = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start)
        loop(iterations)
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end)
        best = min(best, Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) * 1e-9)
    }
    return Double(iterations * macsPerIteration) / best / 1e9
}

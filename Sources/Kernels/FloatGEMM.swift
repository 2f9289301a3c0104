/// The float GEMM core shared by `linear`, `conv2d` and `multiHeadAttention`: a 6x16 register
/// tile (twelve SIMD8<Float> accumulators, two B vectors and one broadcast: 15 of AVX2's 16
/// registers; 29 of NEON's 32) that computes C[6, 16] += A[6, K] * B[K, 16].
///
/// Every output element is one chain of multiply-adds in k order, whichever tile, task or
/// thread computes it, so results never depend on the thread count or on tile edges.

#if arch(x86_64) && canImport(KernelsAVX2)
import KernelsAVX2
#endif
#if arch(x86_64) && canImport(KernelsAVX512VNNI)
import KernelsAVX512VNNI
#endif
#if OpenBLAS
import COpenBLAS
#endif

/// Rows of the register tile.
let floatTileRows = 6
/// Columns of the register tile, and the width of one packed B panel.
let floatTileColumns = 16

/// c + a * b. AArch64 always has a fused multiply-add, and so does x86-64 when the module is
/// built with FMA enabled and `KERNELS_FMA` defined (`-Xcc -mavx2 -Xcc -mfma -Xswiftc -DKERNELS_FMA`).
/// Elsewhere a fused `addingProduct` would become a libm `fmaf` call per lane (~100x slower),
/// so the baseline x86-64 build multiplies and adds separately; on Zen 3 that sustains the same
/// rate, since multiplies and adds issue on different pipes.
@inline(__always)
func multiplyAdd(_ c: SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    #if arch(arm64) || KERNELS_FMA
    return c.addingProduct(a, b)
    #else
    return c + a * b
    #endif
}

@inline(__always)
func loadVector(_ pointer: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func storeVector(_ vector: SIMD8<Float>, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: vector, as: SIMD8<Float>.self)
}

/// The twelve accumulators of one 6x16 tile; row r holds columns 0..<8 in `rN0` and 8..<16 in `rN1`.
struct FloatTile6x16 {
    var r00 = SIMD8<Float>(), r01 = SIMD8<Float>()
    var r10 = SIMD8<Float>(), r11 = SIMD8<Float>()
    var r20 = SIMD8<Float>(), r21 = SIMD8<Float>()
    var r30 = SIMD8<Float>(), r31 = SIMD8<Float>()
    var r40 = SIMD8<Float>(), r41 = SIMD8<Float>()
    var r50 = SIMD8<Float>(), r51 = SIMD8<Float>()

    /// Adds A[6, depth] * B[depth, 16]. Row r of A starts at `rows.r` and steps by `aStep`
    /// floats per k (1 for a row-major matrix); row k of B starts at `b + k * bStep`
    /// (16 for a packed panel).
    /// Runs on KernelsAVX2's `floatGEMM6x16AVX2` at `level` `.avx2` (the caller's `KernelDispatch.current`,
    /// which is `.avx2` only on a CPU with AVX2 + FMA), else on the portable SIMD8 loop below.
    @inline(__always)
    mutating func accumulate(_ rows: FloatTileRowPointers, aStep: Int, b: UnsafePointer<Float>, bStep: Int, depth: Int,
                             level: KernelLevel) {
        #if arch(x86_64) && canImport(KernelsAVX2)
        if level >= .avx2 {
            accumulateX86(rows, aStep: aStep, b: b, bStep: bStep, depth: depth, zmm: level == .avx512VNNI)
            return
        }
        #endif
        var a0 = rows.row0, a1 = rows.row1, a2 = rows.row2, a3 = rows.row3, a4 = rows.row4, a5 = rows.row5
        var bRow = b
        var c00 = r00, c01 = r01, c10 = r10, c11 = r11, c20 = r20, c21 = r21
        var c30 = r30, c31 = r31, c40 = r40, c41 = r41, c50 = r50, c51 = r51
        var remaining = depth
        while remaining > 0 {
            let b0 = loadVector(bRow)
            let b1 = loadVector(bRow + 8)
            var a = SIMD8<Float>(repeating: a0.pointee)
            c00 = multiplyAdd(c00, a, b0); c01 = multiplyAdd(c01, a, b1)
            a = SIMD8<Float>(repeating: a1.pointee)
            c10 = multiplyAdd(c10, a, b0); c11 = multiplyAdd(c11, a, b1)
            a = SIMD8<Float>(repeating: a2.pointee)
            c20 = multiplyAdd(c20, a, b0); c21 = multiplyAdd(c21, a, b1)
            a = SIMD8<Float>(repeating: a3.pointee)
            c30 = multiplyAdd(c30, a, b0); c31 = multiplyAdd(c31, a, b1)
            a = SIMD8<Float>(repeating: a4.pointee)
            c40 = multiplyAdd(c40, a, b0); c41 = multiplyAdd(c41, a, b1)
            a = SIMD8<Float>(repeating: a5.pointee)
            c50 = multiplyAdd(c50, a, b0); c51 = multiplyAdd(c51, a, b1)
            a0 += aStep; a1 += aStep; a2 += aStep; a3 += aStep; a4 += aStep; a5 += aStep
            bRow += bStep
            remaining -= 1
        }
        r00 = c00; r01 = c01; r10 = c10; r11 = c11; r20 = c20; r21 = c21
        r30 = c30; r31 = c31; r40 = c40; r41 = c41; r50 = c50; r51 = c51
    }

    #if arch(x86_64) && canImport(KernelsAVX2)
    /// `accumulate` on the AVX2 + FMA microkernel, or its ZMM twin (same FMA chains, same bits) where
    /// the CPU runs the AVX-512 level; the accumulators travel through a 6x16 staging tile.
    @inline(__always)
    mutating func accumulateX86(_ rows: FloatTileRowPointers, aStep: Int, b: UnsafePointer<Float>, bStep: Int, depth: Int,
                                 zmm: Bool) {
        withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 12) { buffer in
            let staged = buffer.baseAddress!
            staged[0] = r00; staged[1] = r01; staged[2] = r10; staged[3] = r11; staged[4] = r20; staged[5] = r21
            staged[6] = r30; staged[7] = r31; staged[8] = r40; staged[9] = r41; staged[10] = r50; staged[11] = r51
            #if canImport(KernelsAVX512VNNI)
            let tile = zmm ? floatGEMM6x16AVX512 : floatGEMM6x16AVX2
            #else
            let tile = floatGEMM6x16AVX2
            #endif
            tile(rows.row0, rows.row1, rows.row2, rows.row3, rows.row4, rows.row5, aStep, b, bStep, depth,
                 UnsafeMutableRawPointer(staged))
            r00 = staged[0]; r01 = staged[1]; r10 = staged[2]; r11 = staged[3]; r20 = staged[4]; r21 = staged[5]
            r30 = staged[6]; r31 = staged[7]; r40 = staged[8]; r41 = staged[9]; r50 = staged[10]; r51 = staged[11]
        }
    }
    #endif

    /// The two halves of row `row`.
    @inline(__always)
    func row(_ row: Int) -> (SIMD8<Float>, SIMD8<Float>) {
        switch row {
        case 0: return (r00, r01)
        case 1: return (r10, r11)
        case 2: return (r20, r21)
        case 3: return (r30, r31)
        case 4: return (r40, r41)
        default: return (r50, r51)
        }
    }

    /// Writes rows 0..<rowCount, columns 0..<columnCount to `output` (row stride `outputStride`)
    /// as act(tile + bias[column] (+ residual)), where `bias` and `residual` are already offset
    /// to the tile's first column and row. Full tiles store whole vectors; edge tiles go through
    /// a 16-float staging row.
    @inline(__always)
    func store(rowCount: Int, columnCount: Int, output: UnsafeMutablePointer<Float>, outputStride: Int,
               bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, residualStride: Int,
               activation: FloatActivation) {
        var bias0 = SIMD8<Float>(), bias1 = SIMD8<Float>()
        if let bias {
            if columnCount == floatTileColumns {
                bias0 = loadVector(bias)
                bias1 = loadVector(bias + 8)
            } else {
                for column in 0..<columnCount {
                    if column < 8 { bias0[column] = bias[column] } else { bias1[column - 8] = bias[column] }
                }
            }
        }
        for rowIndex in 0..<rowCount {
            var (low, high) = row(rowIndex)
            if bias != nil {
                low += bias0
                high += bias1
            }
            let destination = output + rowIndex * outputStride
            if columnCount == floatTileColumns {
                if let residual {
                    low += loadVector(residual + rowIndex * residualStride)
                    high += loadVector(residual + rowIndex * residualStride + 8)
                }
                if activation == .relu {
                    low = low.replacing(with: 0, where: low .< 0)
                    high = high.replacing(with: 0, where: high .< 0)
                }
                storeVector(low, destination)
                storeVector(high, destination + 8)
            } else {
                for column in 0..<columnCount {
                    var value = column < 8 ? low[column] : high[column - 8]
                    if let residual { value += residual[rowIndex * residualStride + column] }
                    destination[column] = activation.apply(value)
                }
            }
        }
    }
}

/// The six A row pointers of one tile. Rows past the end of A repeat the last real row, so the
/// tile always computes six rows and `store` simply drops the extra ones.
struct FloatTileRowPointers {
    var row0, row1, row2, row3, row4, row5: UnsafePointer<Float>

    @inline(__always)
    init(first: UnsafePointer<Float>, stride: Int, count: Int) {
        let last = count - 1
        row0 = first
        row1 = first + min(1, last) * stride
        row2 = first + min(2, last) * stride
        row3 = first + min(3, last) * stride
        row4 = first + min(4, last) * stride
        row5 = first + min(5, last) * stride
    }

    @inline(__always)
    init(_ row0: UnsafePointer<Float>, _ row1: UnsafePointer<Float>, _ row2: UnsafePointer<Float>,
         _ row3: UnsafePointer<Float>, _ row4: UnsafePointer<Float>, _ row5: UnsafePointer<Float>) {
        self.row0 = row0; self.row1 = row1; self.row2 = row2
        self.row3 = row3; self.row4 = row4; self.row5 = row5
    }

    /// The same rows advanced by `offset` floats.
    @inline(__always)
    func advanced(by offset: Int) -> FloatTileRowPointers {
        FloatTileRowPointers(row0 + offset, row1 + offset, row2 + offset, row3 + offset, row4 + offset, row5 + offset)
    }
}

/// A B matrix [depth, columns] repacked as panels of 16 columns: panel p holds, for each k, the
/// 16 values B[k, 16p ..< 16p + 16] contiguously, zero-filled past the last column, so the tile
/// reads one panel front to back. 64-byte aligned.
struct FloatPackedPanels {
    let depth: Int
    let columns: Int
    let panelCount: Int
    let storage: UnsafeMutablePointer<Float>

    /// Packs B where `element(k, column)` gives B[k, column].
    init(depth: Int, columns: Int, element: (_ k: Int, _ column: Int) -> Float) {
        self.depth = max(depth, 0)
        self.columns = max(columns, 0)
        panelCount = (self.columns + floatTileColumns - 1) / floatTileColumns
        let count = max(panelCount * self.depth * floatTileColumns, floatTileColumns)
        storage = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
        storage.initialize(repeating: 0, count: count)
        for panel in 0..<panelCount {
            let panelStart = storage + panel * self.depth * floatTileColumns
            let firstColumn = panel * floatTileColumns
            let width = min(floatTileColumns, self.columns - firstColumn)
            for k in 0..<self.depth {
                for column in 0..<width {
                    panelStart[k * floatTileColumns + column] = element(k, firstColumn + column)
                }
            }
        }
    }

    /// B[k, column], read back from the panels (the scalar dispatch level unpacks with it).
    @inline(__always)
    func element(_ k: Int, _ column: Int) -> Float {
        storage[(column / floatTileColumns) * depth * floatTileColumns + k * floatTileColumns + column % floatTileColumns]
    }

    /// The first float of panel `panel`.
    @inline(__always)
    func panel(_ panel: Int) -> UnsafePointer<Float> {
        UnsafePointer(storage + panel * depth * floatTileColumns)
    }

    func deallocate() {
        storage.deallocate()
    }
}

/// How a GEMM of rows x panels is cut into thread-pool tasks: each task is a block of tile rows
/// times a block of panels. A block of panels is sized to stay in a 256 KiB L2 share while the
/// task's row tiles stream past it; rows are cut so the pool has several tasks per thread.
struct FloatGEMMTasks {
    let rowsPerTask: Int
    let panelsPerTask: Int
    let rowBlocks: Int
    let panelBlocks: Int
    var count: Int { rowBlocks * panelBlocks }

    init(rows: Int, panels: Int, depth: Int, threads: Int) {
        let panelBytes = max(depth, 1) * floatTileColumns * MemoryLayout<Float>.stride
        var panelsPerTask = max(1, min(panels, (256 * 1024) / panelBytes))
        let rowTiles = (rows + floatTileRows - 1) / floatTileRows
        var tilesPerTask = 8
        if threads > 1 {
            // Small GEMMs (decoder rows, M = 1): cut finer so every thread has work.
            let wanted = 4 * threads
            while tilesPerTask > 1 && ((rowTiles + tilesPerTask - 1) / tilesPerTask) * ((panels + panelsPerTask - 1) / panelsPerTask) < wanted {
                tilesPerTask /= 2
            }
            while panelsPerTask > 1 && ((rowTiles + tilesPerTask - 1) / tilesPerTask) * ((panels + panelsPerTask - 1) / panelsPerTask) < wanted {
                panelsPerTask = (panelsPerTask + 1) / 2
            }
        }
        self.rowsPerTask = tilesPerTask * floatTileRows
        self.panelsPerTask = panelsPerTask
        rowBlocks = (rows + rowsPerTask - 1) / rowsPerTask
        panelBlocks = (panels + panelsPerTask - 1) / panelsPerTask
    }
}

#if OpenBLAS
/// The `OpenBLAS` trait's float path (`swift build --traits OpenBLAS`, needs libopenblas-dev):
/// output[rows, columns] = act(A W^T + bias (+ residual)) with `cblas_sgemm`, where A is
/// [rows, depth] with row stride `aStride` and W is [columns, depth] row-major. OpenBLAS runs on its
/// own threads, set to the pool's thread count; summation order and rounding are OpenBLAS's.
func openBLASLinear(a: UnsafePointer<Float>, rows: Int, aStride: Int, weights: UnsafePointer<Float>, columns: Int,
                    depth: Int, bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
                    activation: FloatActivation, output: UnsafeMutablePointer<Float>, threads: Int) {
    if openBLASThreads != threads {
        openblas_set_num_threads(Int32(threads))
        openBLASThreads = threads
    }
    var beta: Float = 0
    if let residual {
        if residual != UnsafePointer(output) { output.update(from: residual, count: rows * columns) }
        beta = 1
    }
    if depth > 0 {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(columns), Int32(depth), 1,
                    a, Int32(max(aStride, 1)), weights, Int32(max(depth, 1)), beta, output, Int32(columns))
    } else if residual == nil {
        output.update(repeating: 0, count: rows * columns)
    }
    if bias == nil && activation == .none { return }
    for row in 0..<rows {
        let destination = output + row * columns
        for column in 0..<columns {
            destination[column] = activation.apply(destination[column] + (bias?[column] ?? 0))
        }
    }
}

/// The thread count last given to OpenBLAS (it keeps one global setting).
nonisolated(unsafe) private var openBLASThreads = 0
#endif

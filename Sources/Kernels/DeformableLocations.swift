/// MSDeformAttn's sampling locations, in transformers' order of operations. Each query's row holds
/// `columns` values, (x, y) pairs for every head, level and point; `divisors[j]` is what column j's
/// offset is divided by, the same in every row:
///
///     2-d reference (x, y):        out[j] = ref[j % 2] + offset[j] / divisors[j]
///                                  (divisors: the sample level's W and H)
///     4-d reference (x, y, w, h):  out[j] = ref[j % 2] + offset[j] / divisors[j] * ref[2 + j % 2] * 0.5
///                                  (divisors: the level's point count)
///
/// Every element is the same IEEE operations in the same order on both paths, so the SIMD8 path
/// (blocks of queries over `pool`) equals `deformableLocationsReference` bit for bit. `columns` is
/// even, so a vector's lanes alternate x and y.
public func deformableLocations(reference: UnsafePointer<Float>, referenceColumns: Int, offsets: UnsafePointer<Float>,
                                divisors: UnsafePointer<Float>, queries: Int, columns: Int,
                                output: UnsafeMutablePointer<Float>, pool: ThreadPool? = nil) {
    if queries <= 0 || columns <= 0 { return }
    if KernelDispatch.current == .scalar || columns % 2 != 0 {
        deformableLocationsReference(reference: reference, referenceColumns: referenceColumns, offsets: offsets, divisors: divisors,
                                     queries: queries, columns: columns, output: output)
        return
    }
    let queriesPerTask = rowsPerNormalizationTask(columns: columns)
    runTasks((queries + queriesPerTask - 1) / queriesPerTask, pool: pool,
             DeformableLocationsJob(reference: reference, referenceColumns: referenceColumns, offsets: offsets, divisors: divisors,
                                    queries: queries, columns: columns, queriesPerTask: queriesPerTask, output: output))
}

/// The tasks of one `deformableLocations` call: `queriesPerTask` queries each, eight values at a time.
private struct DeformableLocationsJob: ParallelJob {
    let reference: UnsafePointer<Float>, referenceColumns: Int, offsets: UnsafePointer<Float>, divisors: UnsafePointer<Float>
    let queries: Int, columns: Int, queriesPerTask: Int, output: UnsafeMutablePointer<Float>

    static var taskFunction: ParallelTaskFunction {
        { $0.assumingMemoryBound(to: DeformableLocationsJob.self).pointee.run(task: $1, thread: $2) }
    }

    func run(task: Int, thread: Int) {
        for query in task * queriesPerTask..<min(queries, (task + 1) * queriesPerTask) {
            deformableLocationsRow(reference: reference + query * referenceColumns, referenceColumns: referenceColumns,
                                   offsets: offsets + query * columns, divisors: divisors, columns: columns,
                                   output: output + query * columns)
        }
    }
}

/// One query's row of `deformableLocations` (an even `columns`), eight values at a time: what the job runs
/// per query and what an int8 sampling that computes its locations runs per query (`DeformableLocationSource`).
@inline(__always)
func deformableLocationsRow(reference ref: UnsafePointer<Float>, referenceColumns: Int, offsets row: UnsafePointer<Float>,
                            divisors: UnsafePointer<Float>, columns: Int, output destination: UnsafeMutablePointer<Float>) {
    let origin = SIMD8<Float>(ref[0], ref[1], ref[0], ref[1], ref[0], ref[1], ref[0], ref[1])
    var first = 0
    if referenceColumns == 2 {
        while first < columns {
            let count = columns - first
            storeFloats(origin + loadFloats(row + first, count: count) / loadFloats(divisors + first, count: count),
                        destination + first, count: count)
            first += 8
        }
    } else {
        let size = SIMD8<Float>(ref[2], ref[3], ref[2], ref[3], ref[2], ref[3], ref[2], ref[3])
        let half = SIMD8<Float>(repeating: 0.5)
        while first < columns {
            let count = columns - first
            let step = loadFloats(row + first, count: count) / loadFloats(divisors + first, count: count) * size * half
            storeFloats(origin + step, destination + first, count: count)
            first += 8
        }
    }
}

/// Where an int8 deformable sampling that computes its own locations reads them from: `deformableLocations`'
/// reference points ([queries, referenceColumns], 2 or 4 columns) and its per-column divisors, the offsets
/// being the sampling's `locations` argument.
public struct DeformableLocationSource {
    public let reference: UnsafePointer<Float>, referenceColumns: Int, divisors: UnsafePointer<Float>

    public init(reference: UnsafePointer<Float>, referenceColumns: Int, divisors: UnsafePointer<Float>) {
        self.reference = reference
        self.referenceColumns = referenceColumns
        self.divisors = divisors
    }
}

/// The scalar reference of `deformableLocations`.
public func deformableLocationsReference(reference: UnsafePointer<Float>, referenceColumns: Int, offsets: UnsafePointer<Float>,
                                         divisors: UnsafePointer<Float>, queries: Int, columns: Int,
                                         output: UnsafeMutablePointer<Float>) {
    for query in 0..<max(queries, 0) {
        let ref = reference + query * referenceColumns
        for column in 0..<max(columns, 0) {
            let offset = offsets[query * columns + column]
            let axis = column % 2
            output[query * columns + column] = referenceColumns == 2
                ? ref[axis] + offset / divisors[column]
                : ref[axis] + offset / divisors[column] * ref[2 + axis] * 0.5
        }
    }
}

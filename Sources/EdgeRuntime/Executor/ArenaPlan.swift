/// Where every activation of a graph lives in one preallocated arena.
///
/// Constants are not in the arena (they are weights: in the model file or the checkpoint). The input,
/// every node output and the graph outputs are. A reshape shares its source's bytes, so a value and
/// its reshapes form one buffer whose lifetime is the union of theirs. Two buffers alive at the same
/// time never overlap: `ArenaPlanner.validate` checks it for plans read from files.
public struct ArenaPlan: Equatable, Sendable {
    /// Byte offset of each value (indexed like `Graph.values`), or -1 for constants.
    public var offsets: [Int]
    /// Total bytes of the arena.
    public var size: Int

    public init(offsets: [Int], size: Int) {
        self.offsets = offsets
        self.size = size
    }
}

/// One arena buffer: a value not produced by a reshape, with everything that aliases it.
public struct ArenaBuffer: Equatable, Sendable {
    /// The value that owns the bytes.
    public var value: Int
    public var bytes: Int
    /// Index of the node that first writes it (-1 for the graph input).
    public var firstUse: Int
    /// Index of the last node that reads it or one of its reshapes (`nodes.count` for graph outputs).
    public var lastUse: Int

    public func overlapsInTime(_ other: ArenaBuffer) -> Bool {
        firstUse <= other.lastUse && other.firstUse <= lastUse
    }
}

public enum ArenaPlanner {
    public static let alignment = 64


    /// For each value, the value whose bytes it uses: itself, or the source of a reshape chain.
    /// -1 for constants.
    public static func owners(of graph: Graph) -> [Int] {
        var owner = [Int](repeating: -1, count: graph.values.count)
        for (index, value) in graph.values.enumerated() {
            switch value.source {
            case .constant: owner[index] = -1
            case .input: owner[index] = index
            case .node(let n):
                let node = graph.nodes[n]
                if case .reshape = node.operation, let source = node.inputs.first, owner[source.index] >= 0 {
                    owner[index] = owner[source.index]
                } else {
                    owner[index] = index
                }
            }
        }
        return owner
    }

    /// The buffers the arena must hold, with lifetimes in node steps.
    public static func buffers(of graph: Graph) -> [ArenaBuffer] {
        let owner = owners(of: graph)
        var first = [Int](repeating: Int.max, count: graph.values.count)
        var last = [Int](repeating: -1, count: graph.values.count)
        for (index, value) in graph.values.enumerated() where owner[index] == index {
            if case .node(let n) = value.source { first[index] = n } else { first[index] = -1 }
            last[index] = first[index]
        }
        for (n, node) in graph.nodes.enumerated() {
            for input in node.inputs where owner[input.index] >= 0 {
                last[owner[input.index]] = max(last[owner[input.index]], n)
            }
            let produced = owner[node.output.index]
            if produced >= 0 { last[produced] = max(last[produced], n) }
        }
        for output in graph.outputs where owner[output.value.index] >= 0 {
            last[owner[output.value.index]] = graph.nodes.count
        }
        var result: [ArenaBuffer] = []
        for (index, value) in graph.values.enumerated() where owner[index] == index {
            let bytes = alignUp(value.byteCount)
            result.append(ArenaBuffer(value: index, bytes: bytes, firstUse: first[index], lastUse: last[index]))
        }
        return result
    }

    /// TensorFlow Lite Micro's greedy plan: the largest buffers first, each at the lowest offset that
    /// does not overlap a buffer already placed and alive at the same time.
    public static func plan(_ graph: Graph) -> ArenaPlan {
        let all = buffers(of: graph)
        let order = all.indices.sorted { a, b in
            all[a].bytes != all[b].bytes ? all[a].bytes > all[b].bytes : all[a].firstUse < all[b].firstUse
        }
        var placedOffsets = [Int](repeating: -1, count: all.count)
        var placed: [Int] = []
        var size = 0
        for candidate in order {
            let buffer = all[candidate]
            // Live neighbours by offset; slide past each one the candidate would overlap.
            let neighbours = placed.filter { all[$0].overlapsInTime(buffer) }.sorted { placedOffsets[$0] < placedOffsets[$1] }
            var offset = 0
            for neighbour in neighbours {
                let start = placedOffsets[neighbour]
                if offset + buffer.bytes <= start { break }
                offset = max(offset, start + all[neighbour].bytes)
            }
            placedOffsets[candidate] = offset
            placed.append(candidate)
            size = max(size, offset + buffer.bytes)
        }
        let owner = owners(of: graph)
        var offsetOfValue = [Int](repeating: -1, count: graph.values.count)
        for (index, buffer) in all.enumerated() { offsetOfValue[buffer.value] = placedOffsets[index] }
        var offsets = [Int](repeating: -1, count: graph.values.count)
        for index in 0..<graph.values.count where owner[index] >= 0 { offsets[index] = offsetOfValue[owner[index]] }
        return ArenaPlan(offsets: offsets, size: size)
    }

    /// Checks a plan (typically read from a file) against its graph: one offset per value, constants
    /// outside the arena, reshapes at their source's offset, every buffer aligned and inside the arena,
    /// and no two buffers alive at the same time overlapping.
    public static func validate(_ plan: ArenaPlan, for graph: Graph) throws(ModelFileError) {
        guard plan.offsets.count == graph.values.count else {
            throw .invalidPlan(detail: "\(plan.offsets.count) offsets for \(graph.values.count) values")
        }
        guard plan.size >= 0 else { throw .invalidPlan(detail: "negative arena size") }
        let owner = owners(of: graph)
        for index in 0..<graph.values.count {
            let name = graph.values[index].name
            if owner[index] < 0 {
                guard plan.offsets[index] == -1 else { throw .invalidPlan(detail: "constant '\(name)' has an arena offset") }
            } else if plan.offsets[index] != plan.offsets[owner[index]] {
                throw .invalidPlan(detail: "'\(name)' is a reshape but does not share its source's offset")
            }
        }
        let all = buffers(of: graph)
        // No plan needs more than every buffer side by side: a larger arena is memory asked for nothing.
        var unshared = 0
        for buffer in all { unshared += alignUp(buffer.bytes) }
        guard plan.size <= max(unshared, alignment) else {
            throw .invalidPlan(detail: "arena of \(plan.size) bytes, more than the \(unshared) its buffers take side by side")
        }
        for buffer in all {
            let offset = plan.offsets[buffer.value]
            let name = graph.values[buffer.value].name
            guard offset >= 0, offset % alignment == 0 else {
                throw .invalidPlan(detail: "'\(name)' at offset \(offset) is not \(alignment)-byte aligned")
            }
            let (end, overflow) = offset.addingReportingOverflow(buffer.bytes)
            guard !overflow, end <= plan.size else {
                throw .invalidPlan(detail: "'\(name)' (\(buffer.bytes) bytes at \(offset)) ends past the arena (\(plan.size) bytes)")
            }
        }
        // Sweep by offset: only buffers whose byte ranges intersect need a lifetime check.
        let byOffset = all.sorted { plan.offsets[$0.value] < plan.offsets[$1.value] }
        for (position, buffer) in byOffset.enumerated() {
            let end = plan.offsets[buffer.value] + buffer.bytes
            var next = position + 1
            while next < byOffset.count, plan.offsets[byOffset[next].value] < end {
                let other = byOffset[next]
                if buffer.overlapsInTime(other) && buffer.bytes > 0 && other.bytes > 0 {
                    throw .overlappingBuffers(first: graph.values[buffer.value].name, second: graph.values[other.value].name)
                }
                next += 1
            }
        }
    }

    /// A printable plan, one line per buffer (TFLM's PrintMemoryPlan): offset, bytes, lifetime, name.
    public static func describe(_ plan: ArenaPlan, for graph: Graph) -> String {
        var lines = ["arena \(plan.size) bytes, \(graph.nodes.count) nodes"]
        for buffer in buffers(of: graph).sorted(by: { $0.firstUse < $1.firstUse }) {
            lines.append("  offset \(plan.offsets[buffer.value])  \(buffer.bytes) bytes  nodes \(buffer.firstUse)...\(buffer.lastUse)  \(graph.values[buffer.value].name)")
        }
        return lines.joined(separator: "\n")
    }

    static func alignUp(_ bytes: Int) -> Int {
        (bytes + alignment - 1) / alignment * alignment
    }
}

/// COCO bounding-box evaluation, computing what pycocotools' `COCOeval(iouType='bbox')` computes,
/// step for step and in the same float64 arithmetic: `evaluate()` (per image and category:
/// detections sorted by score, cut at 100, greedily matched at each IoU threshold) then
/// `accumulate()` (per category, area range and detection limit: precision at 101 recall points
/// under the precision envelope) then `summarize()` (the 12 numbers, averaged over categories
/// with -1 where undefined).
///
/// The rules that decide the numbers, all pycocotools':
/// - IoU is box IoU; against a crowd annotation it is intersection over the *detection's* area.
/// - A ground truth is ignored when it is a crowd or its `area` is outside the range; a detection
///   matched to an ignored ground truth is ignored, and so is an unmatched detection whose box area
///   (width * height) is outside the range.
/// - Matching walks non-ignored ground truths first, keeps the best IoU >= threshold, never takes a
///   ground truth twice (crowds excepted) and never trades a regular match for an ignored one.
/// - Ties in score keep file order (numpy's stable mergesort), images in increasing id order.
/// - A detection "matched" to an annotation with id 0 counts as unmatched (pycocotools stores the
///   matched id and tests it for non-zero); it is reproduced, not fixed.
///
/// Differences, all outside what pycocotools accepts: an empty results list is evaluated (it
/// crashes pycocotools), and invalid input is refused by `COCODataset`/`COCODetection` instead of
/// being ignored or crashing.
public struct COCOEvaluation: Sendable {
    /// Category ids in increasing order: the K axis.
    public let categoryIDs: [Int]
    /// Precision, `[T, R, K, A, M]` row-major (IoU threshold, recall threshold, category, area
    /// range, detection limit); -1 where the category has no (non-ignored) ground truth.
    public let precision: [Double]
    /// Recall, `[T, K, A, M]` row-major; -1 where undefined.
    public let recall: [Double]
    /// pycocotools' `stats`.
    public let stats: COCOStats
    /// AP and AP50 of each category (area all, 100 detections), in `categoryIDs` order.
    public let perCategory: [COCOCategoryResult]

    static let iouThresholds = COCOEvaluationParameters.iouThresholds
    static let recallThresholds = COCOEvaluationParameters.recallThresholds
    static let areaRanges = COCOEvaluationParameters.areaRanges
    static let maximumDetections = COCOEvaluationParameters.maximumDetections

    /// Evaluates `detections` against `dataset`. Both are assumed valid (as `COCODataset.load` and
    /// `COCODetection.load` guarantee); detections of unknown images or categories are skipped.
    public init(dataset: COCODataset, detections: [COCODetection]) {
        let imageIDs = dataset.images.map(\.id).sorted()
        let categoryIDs = dataset.categories.map(\.id).sorted()
        let imageIndex = Dictionary(uniqueKeysWithValues: imageIDs.enumerated().map { ($1, $0) })
        let categoryIndex = Dictionary(uniqueKeysWithValues: categoryIDs.enumerated().map { ($1, $0) })
        let imageCount = imageIDs.count, categoryCount = categoryIDs.count

        // _prepare(): ground truths and detections per (image, category), in file order.
        var cells = [Cell](repeating: Cell(), count: imageCount * categoryCount)
        for annotation in dataset.annotations {
            guard let image = imageIndex[annotation.imageID], let category = categoryIndex[annotation.categoryID] else { continue }
            cells[category * imageCount + image].groundTruths.append(annotation)
        }
        for (index, detection) in detections.enumerated() {
            guard let image = imageIndex[detection.imageID], let category = categoryIndex[detection.categoryID] else { continue }
            // loadRes numbers detections 1, 2, ... in file order.
            cells[category * imageCount + image].detections.append(Detection(id: index + 1, detection: detection))
        }

        // evaluate(): every (category, area range, image).
        let areaCount = Self.areaRanges.count
        var evaluations = [ImageEvaluation?](repeating: nil, count: categoryCount * areaCount * imageCount)
        for category in 0..<categoryCount {
            for image in 0..<imageCount {
                let cell = cells[category * imageCount + image]
                guard !(cell.groundTruths.isEmpty && cell.detections.isEmpty) else { continue }
                let matcher = CellMatcher(cell: cell, maximumDetections: Self.maximumDetections.last!)
                for (area, range) in Self.areaRanges.enumerated() {
                    evaluations[(category * areaCount + area) * imageCount + image] = matcher.evaluate(range)
                }
            }
        }

        // accumulate()
        let (precision, recall) = Self.accumulate(evaluations, categoryCount: categoryCount, imageCount: imageCount)
        self.categoryIDs = categoryIDs
        self.precision = precision
        self.recall = recall
        self.stats = COCOStats(precision: precision, recall: recall, categoryCount: categoryCount)
        let names = dataset.categoryNames
        var groundTruthCounts = [Int](repeating: 0, count: categoryCount)
        for annotation in dataset.annotations where !annotation.isCrowd {
            if let category = categoryIndex[annotation.categoryID] { groundTruthCounts[category] += 1 }
        }
        self.perCategory = categoryIDs.enumerated().map { category, id in
            COCOCategoryResult(
                categoryID: id, name: names[id] ?? "\(id)", groundTruthCount: groundTruthCounts[category],
                averagePrecision: COCOStats.meanPrecision(precision, categoryCount: categoryCount, iouThreshold: nil, area: 0, maximumDetections: 2, category: category),
                averagePrecision50: COCOStats.meanPrecision(precision, categoryCount: categoryCount, iouThreshold: 0, area: 0, maximumDetections: 2, category: category))
        }
    }

    /// Precision at IoU threshold `t`, recall threshold `r`, category `k`, area range `a`, limit `m`
    /// (all indices).
    public func precision(t: Int, r: Int, k: Int, a: Int, m: Int) -> Double {
        let (R, K, A, M) = (Self.recallThresholds.count, categoryIDs.count, Self.areaRanges.count, Self.maximumDetections.count)
        return precision[(((t * R + r) * K + k) * A + a) * M + m]
    }

    public func recall(t: Int, k: Int, a: Int, m: Int) -> Double {
        let (K, A, M) = (categoryIDs.count, Self.areaRanges.count, Self.maximumDetections.count)
        return recall[((t * K + k) * A + a) * M + m]
    }

    // MARK: evaluate()

    struct Detection {
        /// The 1-based position in the results file (pycocotools' `id`).
        let id: Int
        let detection: COCODetection
    }

    struct Cell {
        var groundTruths: [COCOAnnotation] = []
        var detections: [Detection] = []
    }

    /// `evaluateImg()` for one area range: what `accumulate()` needs of it.
    struct ImageEvaluation {
        /// Scores of the kept detections, highest first.
        var scores: [Double]
        /// `[T, D]`: whether detection d has a non-zero matched id at threshold t.
        var matched: [Bool]
        /// `[T, D]`
        var ignored: [Bool]
        /// Ground truths that count (not ignored) in this area range.
        var countedGroundTruths: Int
    }

    /// One (image, category): its sorted detections and `computeIoU()`'s matrix.
    struct CellMatcher {
        let groundTruths: [COCOAnnotation]
        /// Highest score first (stable), at most `maximumDetections`.
        let detections: [Detection]
        /// `[D, G]`, ground truths in file order.
        let ious: [Double]

        init(cell: Cell, maximumDetections: Int) {
            groundTruths = cell.groundTruths
            detections = Array(stableOrderByDescendingScore(cell.detections.map(\.detection.score)).prefix(maximumDetections).map { cell.detections[$0] })
            var ious = [Double](repeating: 0, count: detections.count * groundTruths.count)
            for (d, detection) in detections.enumerated() {
                for (g, truth) in groundTruths.enumerated() {
                    ious[d * groundTruths.count + g] = boxIoU(detection: detection.detection.box, truth: truth.box, crowd: truth.isCrowd)
                }
            }
            self.ious = ious
        }

        func evaluate(_ range: COCOEvaluationParameters.AreaRange) -> ImageEvaluation {
            let G = groundTruths.count, D = detections.count, T = COCOEvaluation.iouThresholds.count
            let truthIgnored = groundTruths.map { $0.isCrowd || !range.contains($0.area) }
            // Non-ignored ground truths first, stable.
            let order = (0..<G).filter { !truthIgnored[$0] } + (0..<G).filter { truthIgnored[$0] }
            var truthTaken = [Bool](repeating: false, count: T * G)
            var matched = [Bool](repeating: false, count: T * D)
            var ignored = [Bool](repeating: false, count: T * D)
            if D > 0 && G > 0 {
                for (t, threshold) in COCOEvaluation.iouThresholds.enumerated() {
                    for d in 0..<D {
                        var best = min(threshold, 1 - 1e-10)
                        var match = -1  // position in `order`
                        for (position, g) in order.enumerated() {
                            if truthTaken[t * G + position] && !groundTruths[g].isCrowd { continue }
                            if match > -1 && !truthIgnored[order[match]] && truthIgnored[g] { break }
                            let iou = ious[d * G + g]
                            if iou < best { continue }
                            best = iou
                            match = position
                        }
                        guard match > -1 else { continue }
                        let truth = order[match]
                        ignored[t * D + d] = truthIgnored[truth]
                        matched[t * D + d] = groundTruths[truth].id != 0
                        truthTaken[t * G + match] = true
                    }
                }
            }
            for d in 0..<D {
                let box = detections[d].detection.box
                guard !range.contains(box.width * box.height) else { continue }
                for t in 0..<T where !matched[t * D + d] { ignored[t * D + d] = true }
            }
            return ImageEvaluation(
                scores: detections.map(\.detection.score), matched: matched, ignored: ignored,
                countedGroundTruths: truthIgnored.lazy.filter { !$0 }.count)
        }
    }

    // MARK: accumulate()

    static func accumulate(_ evaluations: [ImageEvaluation?], categoryCount K: Int, imageCount I: Int) -> (precision: [Double], recall: [Double]) {
        let T = iouThresholds.count, R = recallThresholds.count, A = areaRanges.count, M = maximumDetections.count
        var precision = [Double](repeating: -1, count: T * R * K * A * M)
        var recall = [Double](repeating: -1, count: T * K * A * M)
        let epsilon = Double.ulpOfOne  // np.spacing(1)
        for k in 0..<K {
            for a in 0..<A {
                let images = (0..<I).compactMap { evaluations[(k * A + a) * I + $0] }
                guard !images.isEmpty else { continue }
                let countedGroundTruths = images.reduce(0) { $0 + $1.countedGroundTruths }
                for (m, limit) in maximumDetections.enumerated() {
                    // Concatenate each image's first `limit` detections, then sort by score (stable).
                    var scores: [Double] = []
                    var sources: [(image: Int, detection: Int)] = []
                    for (image, evaluation) in images.enumerated() {
                        for d in 0..<min(limit, evaluation.scores.count) {
                            scores.append(evaluation.scores[d])
                            sources.append((image, d))
                        }
                    }
                    guard countedGroundTruths > 0 else { continue }
                    let order = stableOrderByDescendingScore(scores)
                    let N = order.count
                    for t in 0..<T {
                        var truePositives = 0, falsePositives = 0
                        var recalls = [Double](repeating: 0, count: N)
                        var precisions = [Double](repeating: 0, count: N)
                        for (n, index) in order.enumerated() {
                            let source = sources[index], evaluation = images[source.image]
                            let D = evaluation.scores.count
                            if !evaluation.ignored[t * D + source.detection] {
                                if evaluation.matched[t * D + source.detection] { truePositives += 1 } else { falsePositives += 1 }
                            }
                            let tp = Double(truePositives), fp = Double(falsePositives)
                            recalls[n] = tp / Double(countedGroundTruths)
                            precisions[n] = tp / (fp + tp + epsilon)
                        }
                        recall[((t * K + k) * A + a) * M + m] = N > 0 ? recalls[N - 1] : 0
                        // The precision envelope: each point takes the best precision at any higher recall.
                        if N > 1 {
                            for i in stride(from: N - 1, to: 0, by: -1) where precisions[i] > precisions[i - 1] {
                                precisions[i - 1] = precisions[i]
                            }
                        }
                        // np.searchsorted(rc, recThrs, side='left'); points past the last recall stay 0.
                        var position = 0
                        for (r, threshold) in recallThresholds.enumerated() {
                            while position < N && recalls[position] < threshold { position += 1 }
                            let value = position < N ? precisions[position] : 0
                            precision[(((t * R + r) * K + k) * A + a) * M + m] = value
                        }
                    }
                }
            }
        }
        return (precision, recall)
    }
}

/// AP and AP50 of one category (area all, 100 detections per image); -1 when it has no
/// non-crowd ground truth.
public struct COCOCategoryResult: Equatable, Sendable {
    public let categoryID: Int
    public let name: String
    /// Non-crowd ground-truth objects of this category.
    public let groundTruthCount: Int
    /// AP@[.5:.95]
    public let averagePrecision: Double
    public let averagePrecision50: Double
}

/// Indices that sort `scores` from highest to lowest, equal scores keeping their order: numpy's
/// `argsort(-scores, kind='mergesort')`.
func stableOrderByDescendingScore(_ scores: [Double]) -> [Int] {
    Array(scores.indices).sorted { first, second in
        let a = -scores[first], b = -scores[second]
        return a < b || (a == b && first < second)
    }
}

/// pycocotools' `bbIou` (maskApi.c): IoU of two `[x, y, w, h]` boxes, or intersection over the
/// detection's area when the ground truth is a crowd; 0 when they do not overlap.
public func boxIoU(detection: COCOBox, truth: COCOBox, crowd: Bool) -> Double {
    let truthArea = truth.width * truth.height
    let detectionArea = detection.width * detection.height
    let width = min(detection.width + detection.x, truth.width + truth.x) - max(detection.x, truth.x)
    if width <= 0 { return 0 }
    let height = min(detection.height + detection.y, truth.height + truth.y) - max(detection.y, truth.y)
    if height <= 0 { return 0 }
    let intersection = width * height
    let union = crowd ? detectionArea : detectionArea + truthArea - intersection
    return intersection / union
}

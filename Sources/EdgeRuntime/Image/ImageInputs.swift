import CLibc

/// The images a command line names, for `edgedetr detect` and `edgedetr-run` alike: files as given,
/// folders replaced by the image files directly inside them (not recursive, hidden files left out),
/// sorted by name byte by byte so that every machine runs them in the same order.
public enum ImageInputs {
    /// The file name endings taken from a folder, compared without case: what `decodeImage` reads.
    public static let extensions = ["png", "jpg", "jpeg", "ppm", "pgm"]

    /// `paths` with every folder expanded, and one message per folder that holds no image or cannot
    /// be listed (those folders contribute nothing). A path that is not a folder is kept as it is,
    /// missing or not: reading it reports its own error.
    public static func expand(_ paths: [String]) -> (files: [String], problems: [String]) {
        var files: [String] = []
        var problems: [String] = []
        for path in paths {
            var status = stat()
            guard stat(path, &status) == 0, edgedetr_is_directory(status.st_mode) != 0 else {
                files.append(path)
                continue
            }
            guard let directory = opendir(path) else {
                problems.append("\(path): cannot list the folder (errno \(edgedetr_errno()))")
                continue
            }
            var names: [String] = []
            while let entry = readdir(directory) {
                let name = String(cString: edgedetr_entry_name(entry))
                if !name.hasPrefix("."), isImageName(name) { names.append(name) }
            }
            closedir(directory)
            if names.isEmpty {
                problems.append("\(path): no images in the folder (\(extensions.joined(separator: ", ")))")
                continue
            }
            let folder = path.hasSuffix("/") ? path : path + "/"
            for name in names.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
                var status = stat()
                let file = folder + name
                // Subfolders named like images are not images.
                if stat(file, &status) == 0, edgedetr_is_directory(status.st_mode) != 0 { continue }
                files.append(file)
            }
        }
        return (files, problems)
    }

    /// Whether `name` ends in one of `extensions` (any case).
    static func isImageName(_ name: String) -> Bool {
        guard let dot = name.utf8.lastIndex(of: UInt8(ascii: ".")) else { return false }
        let ending = name[name.utf8.index(after: dot)...].utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
        return extensions.contains { Array($0.utf8) == ending }
    }
}

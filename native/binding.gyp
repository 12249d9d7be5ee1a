{
  "targets": [
    {
      "target_name": "ben_native",
      "sources": ["ben_native.cc", "knn.cc", "train.cc", "probe.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-fexceptions", "-fopenmp", "-fno-math-errno"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl"]
    }
  ]
}

// A small "inference service" for `make demo`: it reloads its model in a loop
// through a C handle API (the shape of LGBM_BoosterCreateFromModelfile /
// LGBM_BoosterFree), serves a few requests per model, and -- the bug -- forgets
// to free the old handle on every fourth reload. Run under libmemtrace, the
// report points at model_create_from_file as the owner of the leaked bytes.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

struct Model {
  std::string name;
  std::vector<float> weights;  // the bulk of a model
  std::vector<int> feature_map;
};

}  // namespace

extern "C" {
typedef void* ModelHandle;

// Loads a model; the caller owns the handle and must call model_free.
__attribute__((noinline)) ModelHandle model_create_from_file(const char* path, size_t n_weights) {
  auto* m = new Model;
  m->name = std::string("model loaded from ") + path;
  m->weights.assign(n_weights, 0.5f);
  m->feature_map.assign(256, 1);
  return m;
}

__attribute__((noinline)) void model_free(ModelHandle h) { delete static_cast<Model*>(h); }

__attribute__((noinline)) float model_predict(ModelHandle h, const float* row, size_t n) {
  auto* m = static_cast<Model*>(h);
  std::vector<float> scratch(row, row + n);  // per-request temporary, freed
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += scratch[i] * m->weights[i % m->weights.size()];
  return s;
}
}

__attribute__((noinline)) ModelHandle reload_model(ModelHandle old, int generation) {
  char path[64];
  snprintf(path, sizeof(path), "/models/ranker-v%d.bin", generation);
  ModelHandle fresh = model_create_from_file(path, 16384);  // 64 KiB of weights
  if (generation % 4 != 3) model_free(old);  // BUG: every 4th reload forgets the old model
  return fresh;
}

int main(int argc, char** argv) {
  int reloads = argc > 1 ? atoi(argv[1]) : 20;
  ModelHandle model = model_create_from_file("/models/ranker-v0.bin", 16384);
  float row[32];
  for (int i = 0; i < 32; ++i) row[i] = static_cast<float>(i);
  double total = 0;
  for (int gen = 1; gen <= reloads; ++gen) {
    model = reload_model(model, gen);
    for (int req = 0; req < 100; ++req) total += model_predict(model, row, 32);
  }
  model_free(model);
  printf("served %d requests over %d model reloads (checksum %.0f)\n", reloads * 100, reloads, total);
  return 0;
}

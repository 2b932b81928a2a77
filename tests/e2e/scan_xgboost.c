/* An XGBoost C-API program that forgets XGBoosterFree (and frees its
 * DMatrix): trains a tiny model on 200 rows, predicts, exits. The booster and
 * everything it owns are lost; the scan's definite bytes must equal
 * memcheck's "definitely lost" on the same run (test_scan.py). argv[1]
 * "free" frees the booster too: then nothing is lost. */
#include <stdio.h>
#include <string.h>
#include <xgboost/c_api.h>

#define CHECK(call)                                               \
  if ((call) != 0) {                                              \
    fprintf(stderr, "%s: %s\n", #call, XGBGetLastError());        \
    return 1;                                                     \
  }

int main(int argc, char** argv) {
  enum { kRows = 200, kCols = 4 };
  float data[kRows * kCols], label[kRows];
  for (int i = 0; i < kRows; ++i) {
    for (int j = 0; j < kCols; ++j) data[i * kCols + j] = (float)((i * 7 + j * 13) % 17);
    label[i] = data[i * kCols] > 8 ? 1.0f : 0.0f;
  }
  DMatrixHandle dtrain;
  CHECK(XGDMatrixCreateFromMat(data, kRows, kCols, -1.0f, &dtrain));
  CHECK(XGDMatrixSetFloatInfo(dtrain, "label", label, kRows));
  BoosterHandle booster;
  CHECK(XGBoosterCreate(&dtrain, 1, &booster));
  CHECK(XGBoosterSetParam(booster, "objective", "binary:logistic"));
  CHECK(XGBoosterSetParam(booster, "max_depth", "3"));
  CHECK(XGBoosterSetParam(booster, "nthread", "2"));
  for (int iter = 0; iter < 5; ++iter) CHECK(XGBoosterUpdateOneIter(booster, iter, dtrain));
  bst_ulong n = 0;
  const float* pred = NULL;
  CHECK(XGBoosterPredict(booster, dtrain, 0, 0, 0, &n, &pred));
  printf("predicted %lu rows, first %.3f\n", (unsigned long)n, n ? pred[0] : 0.0f);
  if (argc > 1 && strcmp(argv[1], "free") == 0) CHECK(XGBoosterFree(booster));
  CHECK(XGDMatrixFree(dtrain));
  return 0;
}

// The program that builds the tests' precompiled header (tests/CMakeLists.txt,
// mlxs_test_pch); it does nothing itself.
int main() {
  return 0;
}

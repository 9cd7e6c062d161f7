// Writes docs/config.md from the option tables: `ninja config_docs`.
#include <cstdio>
#include <fstream>

#include "config/docs.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: config_doc_gen OUTPUT.md\n");
    return 2;
  }
  std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
  out << sluice::config::config_reference();
  out.close();
  if (!out) {
    std::fprintf(stderr, "config_doc_gen: cannot write %s\n", argv[1]);
    return 1;
  }
  return 0;
}

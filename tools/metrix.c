/* The metrix command-line tool: subcommand dispatch. Each subcommand lives in tools/cmd_<name>.c
 * and uses only the public API (include/metrix). */
#include <stdio.h>
#include <string.h>

#include "metrix/metrix.h"
#include "cmd.h"

static const mx_cmd commands[] = {
    /* name, function, one-line summary (kept sorted) */
    {"bench", mx_cmd_bench, "throughput benchmarks: train, knn, loss"},
    {"embed", mx_cmd_embed, "embeddings of a .npy image batch, a run's split or your own images"},
    {"eval", mx_cmd_eval, "retrieval metrics of saved embeddings: Recall@K, MAP@R, NMI, ..."},
    {"search", mx_cmd_search, "the nearest images of a gallery to your query images, with a run"},
    {"train", mx_cmd_train, "train an embedding network (Metrix) and report retrieval on unseen classes"},
    {"version", mx_cmd_version, "print the version and the backends metrix was built with"},
};

static void usage(FILE *f) {
    fprintf(f, "metrix %s: deep metric learning with mixup (Metrix, ICLR 2022)\n\n"
               "usage: metrix COMMAND [options]   (metrix COMMAND --help for its options)\n\n"
               "commands:\n",
            MX_VERSION_STRING);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int mx_cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("metrix %s\n%s\n", MX_VERSION_STRING, mx_build_info());
    return 0;
}

int mx_cli_split(const char *cmd, const char *name, mx_split *out) {
    if (!strcmp(name, "test")) *out = MX_SPLIT_TEST;
    else if (!strcmp(name, "val")) *out = MX_SPLIT_VAL;
    else if (!strcmp(name, "train")) *out = MX_SPLIT_TRAIN;
    else if (!strcmp(name, "query")) *out = MX_SPLIT_QUERY;
    else if (!strcmp(name, "gallery")) *out = MX_SPLIT_GALLERY;
    else {
        fprintf(stderr, "metrix %s: --split '%s': expected test, val, train, query or gallery\n",
                cmd, name);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) return mx_cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "metrix: unknown command '%s' (metrix --help lists them)\n", argv[1]);
    return 2;
}

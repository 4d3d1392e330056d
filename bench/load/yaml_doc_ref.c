/*
 * yaml_doc_ref.c - the reference the loader's event API is measured
 * against: load a file with libyaml's document API (yaml_parser_load, one
 * node per scalar, mapping and sequence) and count its nodes, nothing else.
 * `yaml_doc_ref FILE` prints the node count; run it under /usr/bin/time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <yaml.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: yaml_doc_ref FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p))
        return 3;
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, &doc)) {
        fprintf(stderr, "yaml_doc_ref: %s\n", p.problem ? p.problem : "parse error");
        return 1;
    }
    long nodes = (long)(doc.nodes.top - doc.nodes.start);
    printf("%ld nodes\n", nodes);
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    fclose(f);
    return 0;
}

/* `valdrix stream delete NAME`: removes a JetStream stream (benchmarks and tests clean up with
 * it; deleting COST_EVENTS loses what ingest has not taken yet, so it asks for --yes). */
#include "args.h"
#include "cli.h"
#include "vx/bus.h"
#include "vx/config.h"
#include "vx/subjects.h"

#include <stdio.h>
#include <string.h>

int cmd_stream(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "delete") != 0) {
        fprintf(stderr, "usage: valdrix stream delete NAME [--yes]\n");
        return 2;
    }
    cli_opt o[] = {{"yes", false, NULL}, {"help", false, NULL}};
    const char *pos[1];
    int np;
    if (!cli_parse("stream delete", argc - 1, argv + 1, o, 2, pos, 1, &np))
        return 2;
    if (cli_get(o, 2, "help") || np != 1) {
        puts("usage: valdrix stream delete NAME [--yes]\n"
             "Deletes the JetStream stream NAME and every message in it. The streams Valdrix\n"
             "runs on (COST_EVENTS, COST_DLQ) need --yes.");
        return np == 1 ? 0 : 2;
    }
    const char *name = pos[0];
    if ((strcmp(name, VX_DEFAULT_EVENTS_STREAM) == 0 || strcmp(name, VX_DEFAULT_DLQ_STREAM) == 0) &&
        !cli_get(o, 2, "yes")) {
        fprintf(stderr, "valdrix stream delete: %s holds cost events; add --yes to delete it\n",
                name);
        return 2;
    }
    vx_bus *bus = cli_bus_connect("stream delete");
    if (bus == NULL)
        return 1;
    vx_status st = vx_bus_delete_stream(bus, name);
    vx_bus_destroy(bus);
    if (st == VX_NOT_FOUND) {
        fprintf(stderr, "valdrix stream delete: no stream %s\n", name);
        return 1;
    }
    if (st != VX_OK) {
        fprintf(stderr, "valdrix stream delete: %s: %s\n", name, vx_status_str(st));
        return 1;
    }
    fprintf(stderr, "valdrix stream delete: %s deleted\n", name);
    return 0;
}

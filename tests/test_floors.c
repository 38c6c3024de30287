/* The rooms' floors stay one-way: deploy/ (the binary's entry point) sees
 * every room; learner/ and actors/ see proto/ and common/ but not each
 * other; proto/ sees only common/; common/ sees nothing above it. The test
 * reads every #include "..." of every source file, finds the room whose
 * folder holds that header, and fails naming each include that points up
 * or sideways, so the floors stay one-way as features land. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const rooms[] = {"common", "proto", "learner", "actors", "deploy"};
enum { N_ROOMS = 5 };

/* may[a][b]: files in room a may include headers of room b */
static const int may[N_ROOMS][N_ROOMS] = {
    /*            common proto learner actors deploy */
    /* common  */ {1, 0, 0, 0, 0},
    /* proto   */ {1, 1, 0, 0, 0},
    /* learner */ {1, 1, 1, 0, 0},
    /* actors  */ {1, 1, 0, 1, 0},
    /* deploy  */ {1, 1, 1, 1, 1},
};

static char root[512];

static int room_of_header(const char *name) {
    for (int r = 0; r < N_ROOMS; r++) {
        char path[1024];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s/%s", root, rooms[r], name);
        if (stat(path, &st) == 0) return r;
    }
    return -1; /* a system or library header */
}

/* Appends "file:line includes room/header" for every forbidden include. */
static int scan_room(int r, char *report, size_t cap) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s", root, rooms[r]);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int bad = 0, files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 3 || (strcmp(e->d_name + n - 2, ".c") && strcmp(e->d_name + n - 2, ".h"))) continue;
        char path[1200], line[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        files++;
        for (int ln = 1; fgets(line, sizeof line, f); ln++) {
            char name[256];
            if (sscanf(line, " #include \"%255[^\"]\"", name) != 1) continue;
            int h = room_of_header(name);
            if (h < 0 || may[r][h]) continue;
            bad++;
            char item[700];
            snprintf(item, sizeof item, "  %s/%s:%d includes %s/%s\n", rooms[r], e->d_name, ln,
                     rooms[h], name);
            strncat(report, item, cap - strlen(report) - 1);
        }
        fclose(f);
    }
    closedir(d);
    assert_true(files > 0 || r == 4); /* deploy/ may hold only scripts */
    return bad;
}

static void test_includes_point_down(void **state) {
    (void)state;
    static char report[16384];
    report[0] = 0;
    int bad = 0;
    for (int r = 0; r < N_ROOMS; r++) bad += scan_room(r, report, sizeof report);
    if (bad) fail_msg("%d includes cross a floor the wrong way:\n%s", bad, report);
}

/* The checker itself: a header of actors/ is found there, a system one is not. */
static void test_checker_sees_rooms(void **state) {
    (void)state;
    assert_int_equal(room_of_header("sampler.h"), 3);
    assert_int_equal(room_of_header("config.h"), 0);
    assert_int_equal(room_of_header("stdio.h"), -1);
    assert_false(may[2][3]); /* learner -> actors */
    assert_false(may[0][1]); /* common -> proto */
}

int main(void) {
    const char *tests_dir = getenv("GRPO_TESTS_DIR");
    snprintf(root, sizeof root, "%s/..", tests_dir ? tests_dir : "tests");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checker_sees_rooms),
        cmocka_unit_test(test_includes_point_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

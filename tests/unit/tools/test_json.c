/* test_json.c - the JSON writer's commas, nesting, escapes and numbers. */
#include "tools/json.h"

#include "check.h"

static char *render(void (*fn)(struct json *), bool pretty)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    struct json j;
    json_init(&j, f, pretty);
    fn(&j);
    json_finish(&j);
    fclose(f);
    return out;
}

static void doc(struct json *j)
{
    json_obj_begin(j);
    json_kv_uint(j, "jobs", 3);
    json_key(j, "names");
    json_arr_begin(j);
    json_str(j, "a\"b");
    json_str(j, "tab\there\n");
    json_str(j, "\x01");
    json_str(j, "caf\xc3\xa9");
    json_str(j, "bad\xff");
    json_arr_end(j);
    json_key(j, "empty");
    json_arr_begin(j);
    json_arr_end(j);
    json_kv_double(j, "x", 0.1);
    json_kv_double(j, "inf", 1.0 / 0.0);
    json_kv_bool(j, "ok", true);
    json_kv_int(j, "neg", -5);
    json_kv_str(j, "nul", NULL);
    json_obj_end(j);
}

static void pretty_doc(struct json *j)
{
    json_obj_begin(j);
    json_kv_int(j, "a", 1);
    json_key(j, "b");
    json_arr_begin(j);
    json_int(j, 2);
    json_arr_end(j);
    json_obj_end(j);
}

int main(void)
{
    char *s = render(doc, false);
    CHECK_STR(s, "{\"jobs\":3,\"names\":[\"a\\\"b\",\"tab\\there\\n\",\"\\u0001\",\"caf\xc3\xa9\","
                 "\"bad\\ufffd\"],\"empty\":[],\"x\":0.1,\"inf\":null,\"ok\":true,\"neg\":-5,"
                 "\"nul\":null}\n");
    free(s);
    s = render(pretty_doc, true);
    CHECK_STR(s, "{\n  \"a\": 1,\n  \"b\": [\n    2\n  ]\n}\n");
    free(s);
    return check_done();
}
